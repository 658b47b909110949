"""Rescheduling (改约, SPEC §8, RULES §11): the terms of a move stated before confirming, then one atomic step.

:meth:`RescheduleService.quote` reads the old appointment and the booking facts of the new slot (the limits counted as
if the old appointment did not exist), asks ``rules`` whether the move is allowed and what it costs.
:meth:`RescheduleService.move` commits with ``reschedule.lua``: the new place taken and the old one released (to its
waiters first), the reminders moved and the audit written, all or nothing — so a move racing a booking of the last
place of the new slot either completes or leaves the patient their old appointment, never both, never neither.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from rq import Queue

import rules
from bot.booking import MAX_ATTEMPTS, BookingService
from bot.errors import GuahaoError, NotFoundError
from bot.metrics import metrics
from bot.notifications.notifier import Delivery, Notifier
from bot.notifications.outbox import OutboxKind
from bot.records import Appointment, Slot, text
from bot.reminders import KINDS
from bot.storage import keys
from bot.storage.scripts import Scripts
from texts import format as words
from texts import text as say


class RescheduleRefused(GuahaoError):
    """The move is not allowed; ``decision`` names the rule (the old appointment is kept)."""

    def __init__(self, decision: rules.Decision) -> None:
        self.decision = decision
        super().__init__(f"reschedule refused: {decision.rule}")


@dataclass(frozen=True)
class Quote:
    """What a move would be: the old appointment, the new slot, the decision and the fee difference."""

    old: Appointment
    slot: Slot
    decision: rules.Decision
    difference: rules.FeeDifference
    version: str


class RescheduleService:
    """Moves appointments to another slot, atomically."""

    def __init__(self, booking: BookingService, notifier: Notifier, queue: Queue | None = None) -> None:
        self.booking = booking
        self.store = booking.store
        self.notifier = notifier
        self.clock = booking.clock
        self.queue = queue
        self._scripts = Scripts(booking.redis, "reschedule")

    def owned(self, serial: str, pids: Collection[str] | None = None) -> Appointment:
        """The appointment ``serial`` if it is one of ``pids``'; else ``NotFoundError`` (never someone else's)."""
        appointment = self.store.require(serial)
        if pids is not None and appointment.pid not in pids:
            raise NotFoundError(f"no appointment with serial {serial!r}")
        return appointment

    def deadline(self, appointment: Appointment) -> datetime:
        """Until when ``appointment`` may be moved: its cancellation deadline."""
        policy = self.store.policy_for(appointment.hospital)
        return rules.cancel_deadline(policy, appointment.slot_facts(policy.tz))

    def movable(self, appointment: Appointment) -> rules.Decision:
        """Whether the appointment may be moved at all now (booked, before its deadline)."""
        policy = self.store.policy_for(appointment.hospital)
        return rules.check_movable(policy, appointment.facts(policy.tz), self.clock.now())

    def quote(self, serial: str, slot_id: str, *, pids: Collection[str] | None = None) -> Quote:
        """The terms of moving ``serial`` to ``slot_id`` now (allowed or the rule, the fee difference)."""
        old = self.owned(serial, pids)
        slot, version, booking = self.booking.decide(old.pid, slot_id, without=old.serial)
        if slot is None:
            raise RescheduleRefused(booking)
        policy = self.store.policy_for(old.hospital)
        now = self.clock.now()
        new_facts = slot.facts(self.store.policy_for(slot.hospital).tz)
        decision = rules.check_reschedule(policy, old.facts(policy.tz), new_facts, booking, now)
        drawn = self._lottery_window_end(slot, now)
        if decision.allowed and drawn is not None:  # RULES §12: that day's places are drawn, not first-come
            decision = rules.Decision.refuse("reschedule_lottery", drawn, detail="the day's places are being drawn")
        if decision.allowed and slot.places_left <= 0:
            decision = rules.Decision.refuse("slot_full", detail="no places left in this slot")
        difference = rules.fee_difference(policy, old.slot_facts(policy.tz), new_facts, now)
        return Quote(old, slot, decision, difference, version)

    def _lottery_window_end(self, slot: Slot, now: datetime) -> datetime | None:
        """When the release lottery of the slot's day ends, while ``now`` is inside its window; else None."""
        policy = self.store.policy_for(slot.hospital)
        day = date.fromisoformat(slot.date)
        window = rules.lottery_window(policy, day)
        return window[1] if window is not None and rules.in_lottery_window(policy, day, now) else None

    def move(self, serial: str, slot_id: str, actor: str, *, pids: Collection[str] | None = None) -> Appointment:
        """Move ``serial`` to ``slot_id``: the new appointment; raises :class:`RescheduleRefused` (nothing changed)."""
        for _ in range(MAX_ATTEMPTS):
            quote = self.quote(serial, slot_id, pids=pids)
            if not quote.decision.allowed:
                raise RescheduleRefused(quote.decision)
            outcome, moved = self._commit(quote, actor)
            if moved is not None:
                self._after(quote.old, moved)
                return moved
            if outcome in ("full", "closed", "no_slot"):
                rule = {"full": "slot_full", "closed": "slot_closed"}.get(outcome, "no_slot")
                raise RescheduleRefused(rules.Decision.refuse(rule))
            if outcome == "not_booked":
                raise RescheduleRefused(rules.Decision.refuse("reschedule_not_booked"))
        raise RescheduleRefused(rules.Decision.refuse("busy"))

    def _commit(self, quote: Quote, actor: str) -> tuple[str, Appointment | None]:
        old, slot = quote.old, quote.slot
        now = self.clock.now()
        commit_keys, args, stamp = self.booking.commit_call(old.pid, old.acct, old.channel, slot, quote.version, now)
        old_policy = self.store.policy_for(old.hospital)
        new_policy = self.store.policy_for(slot.hospital)
        waiting = rules.waiting_open(old_policy, old.slot_facts(old_policy.tz), now)
        reminders = {
            kind.value: round(at.timestamp())
            for kind, at in rules.reminder_times(new_policy, slot.facts(new_policy.tz), now).items()
        }
        own_keys = [
            keys.appointment(old.serial),
            keys.slot(old.slot),
            keys.waitlist_queue(old.slot),
            keys.WAITLIST_PENDING,
            keys.REMINDERS_DUE,
        ]
        own_args = [
            old.serial,
            "1" if waiting else "0",
            old.slot,
            json.dumps(reminders),
            json.dumps(list(KINDS)),
            str(quote.difference.refund_cents),
        ]
        result = self.booking.commit(self._scripts, "reschedule", [*own_keys, *commit_keys], [*own_args, *args])
        outcome = text(result[0])
        if outcome != "ok":
            return outcome, None
        metrics().bookings.labels(slot.hospital).inc()
        return outcome, self.booking.booked(old.pid, old.acct, old.channel, slot, stamp, result)

    def _after(self, old: Appointment, moved: Appointment) -> None:
        """Notices go where the old appointment's went; a WeChat patient is pushed the ``rescheduled`` notice."""
        address = self.notifier.address(old.serial)
        if address is None:
            return
        self.notifier.remember_address(moved, address.to, address.channel)
        if address.channel != "sms" and self.queue is not None:  # over SMS the reply itself says it (SPEC §5)
            self.queue.enqueue(
                "bot.jobs.send_rescheduled",
                moved.serial,
                old.serial,
                job_id=f"rescheduled-{moved.serial}",
                job_timeout=120,
                result_ttl=24 * 3600,
                description=f"rescheduled {old.serial} -> {moved.serial}",
            )

    def notice(self, serial: str, old_serial: str) -> str:
        """The ``rescheduled`` notice of the new appointment, in the account's language."""
        moved = self.store.require(serial)
        lang = self.notifier.language(moved)
        policy = self.store.policy_for(moved.hospital)
        deadline = rules.cancel_deadline(policy, moved.slot_facts(policy.tz))
        values = self.notifier.values(moved, lang)
        shown = words.moment(deadline.astimezone(policy.tz), lang)
        values["deadline"] = self.notifier.deadline_sentence(moved, lang, shown)
        return say(lang, "notice.rescheduled", old=old_serial, **values)

    def send_notice(self, serial: str, old_serial: str) -> Delivery:
        """Push the ``rescheduled`` notice once (nothing when the new appointment is no longer booked)."""
        moved = self.store.get(serial)
        if moved is None or moved.status != rules.AppointmentStatus.booked:
            return Delivery(ok=True, skipped="not_booked")
        body = self.notice(serial, old_serial)
        return self.notifier.deliver(moved, OutboxKind.rescheduled, body, f"rescheduled-{serial}")
