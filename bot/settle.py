"""Changes the replicas did not confirm in time, told honestly and settled later (SPEC §7).

A booking or cancellation (and a reschedule or waitlist claim, through the same durable step) is committed with
``WAIT min_replicas_ack ack_timeout_ms`` behind it (``bot.storage.scripts``). When the replicas do not confirm, the
primary may be dying: the change may survive the failover or vanish with it. The service then raises
:class:`OutcomeUnconfirmed` instead of returning; the dialog tells the patient the outcome is being confirmed and hands
it to :meth:`Settlements.defer`, which records it (sealed: the openid or phone to answer on is personal data) in
``keys.settlement`` — retried from a thread of this process until the replicas hold the record itself.

The worker's periodic tick (:meth:`Settlements.settle_due`, run by one worker at a time under the periodic lease)
then reads the appointment's status in a script whose ``WAIT`` must be confirmed — so what it read is what survives —
and pushes the real outcome once (the send carries the idempotency key ``settle-<kind>-<serial>``), then forgets
the record. A booking that survived gets its reminders scheduled then (its confirmation is this message).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from pydantic import TypeAdapter

from bot.clock import Clock
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.notifications.notifier import Address, Notifier
from bot.notifications.outbox import OutboxKind
from bot.records import Appointment, text
from bot.storage import keys
from bot.storage.scripts import Durability, Scripts
from texts import format as words
from texts import text as say

if TYPE_CHECKING:  # bot.reminders imports bot.appointments, which raises OutcomeUnconfirmed from here
    from bot.reminders import Reminders

log = logging.getLogger(__name__)

BOOKING = "booking"
CANCELLATION = "cancellation"
RESCHEDULE = "reschedule"
KINDS = (BOOKING, CANCELLATION, RESCHEDULE)
HOLD_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to make a deferred record durable (the last one repeated)."""
SETTLE_BATCH = 100
_APPOINTMENT = TypeAdapter(Appointment)


class OutcomeUnconfirmed(GuahaoError):
    """The change was made on the primary but not confirmed by ``min_replicas_ack`` replicas in time: do not say it
    is done; say it is being confirmed (``texts`` ``settle.*_pending``) and :meth:`Settlements.defer` it."""

    def __init__(self, kind: str, appointment: Appointment) -> None:
        self.kind = kind
        self.appointment = appointment
        super().__init__(f"{kind} of {appointment.serial} not confirmed by the replicas yet")


@dataclass(frozen=True)
class Settled:
    """What one settlement did: the outcome sent (``booked``, ``not_booked``, ``cancelled``, ``not_cancelled``),
    ``None`` when nothing was due (settled elsewhere, not confirmable yet, or the send is to be retried)."""

    key: str
    outcome: str | None


class Settlements:
    """Records deferred outcomes and settles them once the replicas can vouch for what is read."""

    def __init__(self, client: redis.Redis, box: SecretBox, clock: Clock, durability: Durability) -> None:
        self.redis = client
        self.box = box
        self.clock = clock
        self.durability = durability
        self._scripts = Scripts(client, "settle_defer", "settle_decide", "settle_done")
        self._held: list[tuple[str, str]] = []  # (key, sealed record) written but not confirmed yet
        self._held_lock = threading.Lock()
        self._holder: threading.Thread | None = None

    # --- deferring (the web process, right after telling the patient "being confirmed") -----------------------
    def defer(self, pending: OutcomeUnconfirmed, to: str, channel: str) -> None:
        """Record ``pending`` for settling; answer on ``channel`` to ``to`` (the openid or phone booked from)."""
        key = keys.settlement(pending.kind, pending.appointment.serial)
        record = {
            "kind": pending.kind,
            "appointment": _APPOINTMENT.dump_python(pending.appointment, mode="json"),
            "to": to,
            "channel": channel,
        }
        sealed = self.box.encrypt_json(record, context=_context(key))
        if not self._write(key, sealed):
            with self._held_lock:
                self._held.append((key, sealed))
                if self._holder is None or not self._holder.is_alive():
                    self._holder = threading.Thread(target=self._hold, name="guahao-settle-hold", daemon=True)
                    self._holder.start()

    def _write(self, key: str, sealed: str) -> bool:
        try:
            commit = self._scripts.run_durable(
                "settle_defer", [key, keys.SETTLE_DUE], [sealed, int(self.clock.now().timestamp())], self.durability
            )
        except (redis.RedisError, OSError) as down:
            log.warning("settlement not recorded yet", extra={"error": type(down).__name__})
            return False
        return commit.confirmed

    def _hold(self) -> None:
        """Write the held records again until the replicas hold each (a failover may have taken the first write)."""
        attempt = 0
        while True:
            with self._held_lock:
                if not self._held:
                    return
                held = list(self._held)
            done = {key for key, sealed in held if self._write(key, sealed)}
            with self._held_lock:
                self._held = [item for item in self._held if item[0] not in done]
            attempt = 0 if done else attempt + 1
            threading.Event().wait(HOLD_RETRY_S[min(attempt, len(HOLD_RETRY_S) - 1)])

    def holding(self) -> int:
        """How many deferred records this process still holds, not yet confirmed by the replicas."""
        with self._held_lock:
            return len(self._held)

    # --- settling (the worker's periodic tick) -------------------------------------------------------------
    def due(self, limit: int = SETTLE_BATCH) -> list[str]:
        """The settlement keys waiting, oldest first."""
        return [text(k) for k in self.redis.zrange(keys.SETTLE_DUE, 0, limit - 1)]

    def settle_due(self, notifier: Notifier, reminders: Reminders) -> list[Settled]:
        """Settle what is due and can be settled now; each is sent once. One that fails (Redis restarting, a record
        sealed under another key) is logged and left for the next tick; the others go on."""
        settled = []
        for key in self.due():
            try:
                settled.append(self.settle(key, notifier, reminders))
            except Exception as failed:
                log.warning("settlement failed; retried at the next tick", extra={"error": type(failed).__name__})
                settled.append(Settled(key, None))
        return settled

    def settle(self, key: str, notifier: Notifier, reminders: Reminders) -> Settled:
        """Read the outcome of one deferred change durably, send it once, forget the record."""
        sealed = self.redis.hget(key, "record")
        if sealed is None:
            self._scripts.run("settle_done", [key, keys.SETTLE_DUE], [])
            return Settled(key, None)
        record: dict[str, Any] = self.box.decrypt_json(text(sealed), context=_context(key))
        told = _APPOINTMENT.validate_python(record["appointment"])
        commit = self._scripts.run_durable(
            "settle_decide",
            [key, keys.appointment(told.serial)],
            [int(self.clock.now().timestamp())],
            self.durability,
        )
        if text(commit.reply[0]) == "gone":
            return Settled(key, None)
        if not commit.confirmed:  # still no replica to vouch for what was read: the next tick tries again
            return Settled(key, None)
        outcome = _outcome(record["kind"], text(commit.reply[1]))
        address = Address(record["channel"], record["to"])
        if outcome in ("booked", "rescheduled"):  # its reminders start now; this message is its confirmation
            notifier.remember_address(told, address.to, address.channel)
            reminders.schedule(told)
        elif outcome == "cancelled":
            reminders.on_cancelled(told.serial)
        body = _body(notifier, told, outcome)
        once = f"settle-{record['kind']}-{told.serial}"
        delivery = notifier.deliver(told, OutboxKind.reply, body, once, address=address)
        if not delivery.ok and not delivery.final:
            return Settled(key, None)  # the send is retried at the next tick (once: the same idempotency key)
        self._scripts.run("settle_done", [key, keys.SETTLE_DUE], [])
        log.info("settled", extra={"kind": record["kind"], "outcome": outcome})
        return Settled(key, outcome)


def _outcome(kind: str, status: str) -> str:
    """What the patient is told: for a booking (a waitlist claim too) whether it exists, for a move whether the new
    appointment exists (the move is one script: the old one was given up with it), for a cancellation whether it
    took."""
    if kind == BOOKING:
        return "booked" if status else "not_booked"
    if kind == RESCHEDULE:
        return "rescheduled" if status else "not_rescheduled"
    return "cancelled" if status.startswith("cancelled") else "not_cancelled"


def _body(notifier: Notifier, appointment: Appointment, outcome: str) -> str:
    lang = notifier.language(appointment)
    visit = words.visit(appointment.date, appointment.start, lang, appointment.end)
    return say(lang, f"settle.{outcome}", serial=appointment.serial, queue=appointment.queue_no, visit=visit)


def _context(key: str) -> str:
    return f"settle:{key}"
