"""The work of a broadcast's batches (:class:`BroadcastSends`, the part of :class:`bot.broadcasts.Broadcasts` that
sends): each recipient not counted yet is cancelled if asked, then notified once (send-once key
``broadcast:<id>:<serial>``) and counted once (``broadcast_mark.lua``), in chunks that mark progress and take tokens
from each rate-limited channel's bucket (``broadcast_rate.lua``); failed sends are retried with backoff within the
batch, then counted as ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import redis
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_chain, wait_fixed

import rules
from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.broadcast_progress import FINISHED, BroadcastProgress
from bot.errors import InvalidRequestError, NotFoundError
from bot.notifications.notifier import Address, Notifier, Outgoing
from bot.notifications.outbox import OutboxKind
from bot.records import Appointment, decode_hash, text
from bot.reminders import Reminders
from bot.storage import keys
from bot.storage.scripts import Scripts

Status = rules.AppointmentStatus

CHUNK = 50
"""Recipients between two progress marks (and rate-limit token takes) within a batch."""
SEND_RATES: Mapping[str, float] = {"wechat": 200.0, "sms": 20.0}
"""Sends per second per channel, all workers together, for real providers (the console outbox is not limited)."""


def text_context(broadcast_id: str) -> str:
    """The encryption context of a broadcast's text."""
    return f"broadcast.text:{broadcast_id}"


class BroadcastSends:
    """Does a broadcast's batches (the service that holds these attributes sets them)."""

    redis: redis.Redis
    store: AppointmentStore
    booking: BookingService
    notifier: Notifier
    reminders: Reminders
    rates: dict[str, float]
    batch_size: int
    retry_delays: tuple[float, ...]
    _sleep: Callable[[float], None]
    _scripts: Scripts

    def get(self, broadcast_id: str) -> BroadcastProgress:
        """The progress of a broadcast, or :class:`NotFoundError`."""
        fields = decode_hash(self.redis.hgetall(keys.broadcast(broadcast_id))) if broadcast_id else {}
        if not fields:
            raise NotFoundError(f"no broadcast {broadcast_id!r}")
        return BroadcastProgress.from_hash(broadcast_id, fields)

    def run_batch(
        self, broadcast_id: str, batch: int, on_progress: Callable[[BroadcastProgress], None] | None = None
    ) -> str:
        """Do one batch: cancel (if asked) and notify each of its recipients not yet counted. Idempotent."""
        meta = decode_hash(self.redis.hgetall(keys.broadcast(broadcast_id)))
        if not meta:
            return "gone"
        if meta.get("status") in FINISHED:
            return "finished"
        if self.redis.sismember(keys.broadcast_batches(broadcast_id), str(batch)):
            return "already"
        if "text_enc" in meta:  # (a broadcast created before texts were encrypted keeps its "text")
            meta["text"] = self.notifier.box.decrypt(meta.pop("text_enc"), context=text_context(broadcast_id))
        size = int(meta.get("batch_size") or self.batch_size)
        first = batch * size
        last = first + size - 1
        serials = [text(s) for s in self.redis.lrange(keys.broadcast_serials(broadcast_id), first, last)]
        seen = self.redis.smismember(keys.broadcast_done(broadcast_id), serials) if serials else []
        todo = [s for s, done in zip(serials, seen, strict=True) if not done]
        self._mark(broadcast_id, meta, [])
        self._send_rounds(broadcast_id, meta, todo, on_progress)
        self.redis.sadd(keys.broadcast_batches(broadcast_id), batch)
        return f"batch {batch}: {len(todo)} recipients"

    def _send_rounds(
        self,
        broadcast_id: str,
        meta: Mapping[str, str],
        todo: list[str],
        on_progress: Callable[[BroadcastProgress], None] | None,
    ) -> None:
        """Send to ``todo``, then again to those whose send failed after each of ``retry_delays``; the last round
        counts the ones still failing as failed.

        tenacity, not rq's ``Retry``: the CLI runs batches in-process (no worker to re-queue into), and a batch
        marks itself done only once its last round counted everyone (each send is once-only by its key anyway).
        """
        rounds = len(self.retry_delays) + 1
        pending, done = todo, 0

        def one_round() -> list[str]:
            nonlocal pending, done
            done += 1
            failed: list[str] = []
            for start in range(0, len(pending), CHUNK):
                failed += self._chunk(broadcast_id, meta, pending[start : start + CHUNK], final=done == rounds)
                if on_progress is not None and done == 1:
                    on_progress(self.get(broadcast_id))
            pending = failed
            return failed

        Retrying(
            stop=stop_after_attempt(rounds),
            wait=wait_chain(*(wait_fixed(delay) for delay in self.retry_delays)),
            retry=retry_if_result(bool),  # some sends failed and may go through later
            sleep=self._sleep,
        )(one_round)

    def _chunk(self, broadcast_id: str, meta: Mapping[str, str], serials: list[str], *, final: bool) -> list[str]:
        """Deal with some recipients; the serials whose send failed (counted as failed when ``final``)."""
        appointments = {a.serial: a for a in self.store.many(serials)}
        addresses = self.notifier.addresses(serials)
        self._throttle(addresses, len(serials))
        outcomes: list[str] = []
        ready: list[tuple[Appointment, OutboxKind, str]] = []
        for serial in serials:
            found = appointments.get(serial)
            prepared = None if found is None else self._prepare(meta, found)
            if prepared is None:
                outcomes += [serial, "skipped"]
            else:
                ready.append(prepared)
        languages = self.notifier.languages([appointment for appointment, _, _ in ready])
        outgoing = [
            Outgoing(
                appointment,
                kind,
                self.notifier.compose(
                    appointment, notice, lang=languages[appointment.acct], message=meta.get("text", "")
                ),
                f"broadcast:{broadcast_id}:{appointment.serial}",
                addresses.get(appointment.serial),
            )
            for appointment, kind, notice in ready
        ]
        retry: list[str] = []
        for item, delivery in zip(outgoing, self.notifier.deliver_many(outgoing), strict=True):
            serial = item.appointment.serial
            if delivery.ok:
                outcomes += [serial, "sent"]
            elif final or delivery.final:
                outcomes += [serial, "failed"]
            else:
                retry.append(serial)
        self._mark(broadcast_id, meta, outcomes)
        return retry

    def _prepare(self, meta: Mapping[str, str], appointment: Appointment) -> tuple[Appointment, OutboxKind, str] | None:
        """Cancel the appointment if asked; what to send about it, or None when it is no longer booked (skipped)."""
        if meta.get("cancel") == "1":
            if appointment.status == Status.booked:
                try:
                    appointment = self.booking.cancel_by_hospital(
                        appointment.serial, meta.get("actor", "system"), release_place=False
                    )
                except InvalidRequestError:  # changed a moment ago (another worker, the patient)
                    appointment = self.store.require(appointment.serial)
                self.reminders.unschedule(appointment.serial)
            if appointment.status != Status.cancelled_by_hospital:
                return None
            return appointment, OutboxKind.cancellation, "cancellation"
        if appointment.status != Status.booked:
            return None
        return appointment, OutboxKind.broadcast, "broadcast"

    def _mark(self, broadcast_id: str, meta: Mapping[str, str], outcomes: list[str]) -> str:
        return text(
            self._scripts.run(
                "broadcast_mark",
                keys=[
                    keys.broadcast(broadcast_id),
                    keys.broadcast_done(broadcast_id),
                    keys.BROADCASTS_ACTIVE,
                    keys.broadcast_fingerprint(meta.get("fingerprint", "-")),
                ],
                args=[repr(self._wall_now()), broadcast_id, *outcomes],
            )
        )

    def _throttle(self, addresses: Mapping[str, Address], count: int) -> None:
        """Take tokens for these sends from each rate-limited channel's bucket; wait as long as the slowest says."""
        if not self.rates:
            return
        per_channel: dict[str, int] = {}
        for address in addresses.values():
            per_channel[address.channel] = per_channel.get(address.channel, 0) + 1
        per_channel["sms"] = per_channel.get("sms", 0) + count - len(addresses)  # no address: SMS to the patient
        wait = 0.0
        for channel, n in per_channel.items():
            rate = self.rates.get(channel)
            if rate and n:
                answer = self._scripts.run(
                    "broadcast_rate", keys=[keys.send_rate(channel)], args=[rate, rate, self._wall_now(), n]
                )
                wait = max(wait, float(text(answer)))
        if wait > 0:
            self._sleep(wait)

    def _wall_now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6
