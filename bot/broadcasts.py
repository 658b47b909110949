"""Broadcasts: notify every patient booked at a hospital (+ department, + doctor) on a date, optionally cancelling
those appointments on the hospital's side (停诊: no violation, full refund, the place not put back on sale, the slots
suspended so nobody books them again).

:meth:`Broadcasts.create` snapshots the selected serials into a Redis list (``keys.broadcast_serials``), so the
work is fixed once and for all; it is done in batches of :data:`BATCH_SIZE` serials (RQ jobs
``broadcast-<id>-<batch>-<attempt>``, or in-process by :meth:`Broadcasts.run` for the CLI). Each recipient is sent
to at most once (send-once key ``broadcast:<id>:<serial>``) and counted once (``keys.broadcast_done`` in
``broadcast_mark.lua``), so a batch can be run again, concurrently or after a crash, without doubling anything.
Progress (``keys.broadcast``) carries a heartbeat: a broadcast that stopped progressing for :data:`STALE_AFTER`
(its worker was killed) is re-enqueued by :meth:`Broadcasts.resume_abandoned`, which the worker's periodic tick
runs. Failed sends are retried with backoff within the batch, then counted as ``failed``. Sends on a rate-limited
channel take tokens from a bucket in Redis shared by all workers (``broadcast_rate.lua``). The staff's text is
stored encrypted (it may name someone) and the request's fingerprint is a keyed hash.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from pydantic import ValidationError
from rq import Queue
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_chain, wait_fixed

import rules
from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.broadcast_request import BroadcastRequest
from bot.clock import Clock
from bot.errors import GuahaoError, InvalidRequestError, NotFoundError
from bot.notifications.notifier import Address, Notifier, Outgoing
from bot.notifications.outbox import OutboxKind
from bot.records import Appointment, decode_hash, text
from bot.reminders import Reminders, job_queue
from bot.schedule import Schedule
from bot.storage import keys
from bot.storage.scripts import Scripts
from bot.validation import reasons

log = logging.getLogger(__name__)

Status = rules.AppointmentStatus

BATCH_SIZE = 500
"""Serials per batch job."""
CHUNK = 50
"""Recipients between two progress marks (and rate-limit token takes) within a batch."""
STALE_AFTER_S = 60.0
"""A broadcast without progress for this long (wall clock) is considered abandoned and re-enqueued."""
MAX_RESUMES = 10
"""An abandoned broadcast is re-enqueued at most this many times, then marked failed."""
RETRY_DELAYS_S = (1.0, 5.0)
"""Backoff before each retry of the failed sends of a batch; after the last, they are counted failed."""
SEND_RATES: Mapping[str, float] = {"wechat": 200.0, "sms": 20.0}
"""Sends per second per channel, all workers together, for real providers (the console outbox is not limited)."""
BATCH_TIMEOUT_S = 3600


class BroadcastStatus(StrEnum):
    """Where a broadcast stands (SPEC §6)."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


FINISHED = (BroadcastStatus.done.value, BroadcastStatus.failed.value)


class InvalidBroadcastError(GuahaoError):
    """The broadcast request is not acceptable; the message names the field and why."""


def _text_context(broadcast_id: str) -> str:
    return f"broadcast.text:{broadcast_id}"


@dataclass(frozen=True)
class BroadcastProgress:
    """The state of a broadcast: ``total`` appointments selected; ``sent``, ``failed`` and ``skipped`` (no longer
    booked when their turn came) add up to ``total`` once it is finished."""

    id: str
    status: BroadcastStatus
    total: int
    sent: int
    failed: int
    skipped: int
    cancel: bool
    hospital: str = ""
    """Whose appointments: what a staff token's scope is checked against (SPEC §7)."""

    @property
    def processed(self) -> int:
        """Recipients dealt with so far."""
        return self.sent + self.failed + self.skipped

    @property
    def finished(self) -> bool:
        """Whether nothing is left to do."""
        return self.status.value in FINISHED

    def to_json(self) -> dict[str, Any]:
        """The staff API's answer (SPEC §4), with ``skipped`` beside."""
        return {
            "id": self.id,
            "status": self.status.value,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
        }


def _progress(broadcast_id: str, fields: Mapping[str, str]) -> BroadcastProgress:
    return BroadcastProgress(
        id=broadcast_id,
        status=BroadcastStatus(fields.get("status", "queued")),
        total=int(fields.get("total", "0")),
        sent=int(fields.get("sent", "0")),
        failed=int(fields.get("failed", "0")),
        skipped=int(fields.get("skipped", "0")),
        cancel=fields.get("cancel") == "1",
        hospital=fields.get("hospital", ""),
    )


def _audit_detail(broadcast_id: str, request: BroadcastRequest, total: int) -> str:
    """What the audit trail says of a new broadcast: ids and counts, not the free text (it may name someone)."""
    return (
        f"broadcast={broadcast_id} hospital={request.hospital} department={request.department or '*'} "
        f"doctor={request.doctor or '*'} date={request.date} cancel={int(request.cancel)} total={total}"
    )


class Broadcasts:
    """Creates broadcasts and does their work, in RQ batch jobs or in-process."""

    def __init__(
        self,
        redis_client: redis.Redis,
        store: AppointmentStore,
        booking: BookingService,
        schedule: Schedule,
        notifier: Notifier,
        reminders: Reminders,
        clock: Clock,
        *,
        queue: Queue | None = None,
        rates: Mapping[str, float] | None = None,
        batch_size: int = BATCH_SIZE,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        stale_after: float = STALE_AFTER_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = redis_client
        self.store = store
        self.booking = booking
        self.schedule = schedule
        self.notifier = notifier
        self.reminders = reminders
        self.clock = clock
        self.queue = queue if queue is not None else job_queue(redis_client)
        self.rates = dict(rates or {})
        self.batch_size = batch_size
        self.retry_delays = tuple(retry_delays)
        self.stale_after = stale_after
        self._sleep = sleep
        self._scripts = Scripts(redis_client, "broadcast_create", "broadcast_mark", "broadcast_rate")

    # --- creating ----------------------------------------------------------------------------------------
    def validate(
        self,
        hospital: Any,
        date_text: Any,
        body: Any,
        department: Any = None,
        doctor: Any = None,
        cancel: Any = False,
    ) -> BroadcastRequest:
        """A checked request, or :class:`InvalidBroadcastError` naming every bad field ("; " between)."""
        fields = {"hospital": hospital, "date": date_text, "text": body, "department": department, "doctor": doctor}
        try:
            return BroadcastRequest.model_validate({**fields, "cancel": cancel}, context={"config": self.store.config})
        except ValidationError as exc:
            raise InvalidBroadcastError("; ".join(reasons(exc))) from None

    def create(self, request: BroadcastRequest, actor: str) -> tuple[BroadcastProgress, bool]:
        """Select the appointments and snapshot them; (the broadcast, whether it is new). The same request while an
        earlier one is unfinished gives that one (so re-running a broadcast resumes it). With ``cancel``, the
        matching slots are suspended first, so no booking slips in after the selection. ``actor`` (who asked) is
        audited with the creation and with each cancellation the batches make."""
        fingerprint = request.fingerprint(self.notifier.box)
        existing = self.redis.get(keys.broadcast_fingerprint(fingerprint))
        if existing is not None and self.redis.sismember(keys.BROADCASTS_ACTIVE, text(existing)):
            return self.get(text(existing)), False
        if request.cancel:
            self._suspend_slots(request)
        serials = [a.serial for a in self._select(request)]
        broadcast_id = secrets.token_hex(8)
        status = BroadcastStatus.queued if serials else BroadcastStatus.done
        fields = {
            "id": broadcast_id,
            "status": status.value,
            "total": str(len(serials)),
            "sent": "0",
            "failed": "0",
            "skipped": "0",
            "hospital": request.hospital,
            "department": request.department or "",
            "doctor": request.doctor or "",
            "date": request.date,
            "text_enc": self.notifier.box.encrypt(request.text, context=_text_context(broadcast_id)),
            "cancel": "1" if request.cancel else "0",
            "actor": actor,
            "created_at": self.store.stamp(),
            "heartbeat": repr(self._wall_now()),
            "resumes": "0",
            "fingerprint": fingerprint,
            "batch_size": str(self.batch_size),
        }
        created, found_id = self._scripts.run(
            "broadcast_create",
            keys=[
                keys.broadcast(broadcast_id),
                keys.broadcast_serials(broadcast_id),
                keys.BROADCASTS_ACTIVE,
                keys.broadcast_fingerprint(fingerprint),
                keys.AUDIT,
            ],
            args=[
                broadcast_id,
                json.dumps(fields, ensure_ascii=False),
                "1" if serials else "0",
                _audit_detail(broadcast_id, request, len(serials)),
                *serials,
            ],
        )
        log.info("broadcast created", extra={"broadcast": text(found_id), "total": len(serials)})
        return self.get(text(found_id)), bool(int(created))

    def _select(self, request: BroadcastRequest) -> list[Appointment]:
        listing = self.store.listing(day=request.date, hospital=request.hospital, department=request.department)
        return [
            a for a in listing if a.status == Status.booked and (request.doctor is None or a.doctor == request.doctor)
        ]

    def _suspend_slots(self, request: BroadcastRequest) -> int:
        suspended = 0
        for raw in self.redis.zrange(keys.slots_of_day(request.hospital, request.date), 0, -1):
            slot_id = text(raw)
            _, department, doctor, _, _ = slot_id.split("|")
            if request.department not in (None, department) or request.doctor not in (None, doctor):
                continue
            suspended += self.schedule.set_slot_status(slot_id, "suspended")
        return suspended

    # --- reading -----------------------------------------------------------------------------------------
    def get(self, broadcast_id: str) -> BroadcastProgress:
        """The progress of a broadcast, or :class:`NotFoundError`."""
        fields = decode_hash(self.redis.hgetall(keys.broadcast(broadcast_id))) if broadcast_id else {}
        if not fields:
            raise NotFoundError(f"no broadcast {broadcast_id!r}")
        return _progress(broadcast_id, fields)

    def _batch_size(self, broadcast_id: str) -> int:
        """The batch size fixed when the broadcast was created (every process cuts the same batches)."""
        return int(text(self.redis.hget(keys.broadcast(broadcast_id), "batch_size") or self.batch_size))

    def pending_batches(self, broadcast_id: str) -> list[int]:
        """The batch numbers not finished yet."""
        progress = self.get(broadcast_id)
        finished = {int(text(b)) for b in self.redis.smembers(keys.broadcast_batches(broadcast_id))}
        count = -(-progress.total // self._batch_size(broadcast_id))
        return [n for n in range(count) if n not in finished]

    # --- doing the work ----------------------------------------------------------------------------------
    def enqueue(self, broadcast_id: str, attempt: int = 0) -> int:
        """Queue a job per unfinished batch for the workers; the number queued."""
        batches = self.pending_batches(broadcast_id)
        for n in batches:
            self.queue.enqueue(
                "bot.jobs.broadcast_batch",
                broadcast_id,
                n,
                job_id=f"broadcast-{broadcast_id}-{n}-{attempt}",
                job_timeout=BATCH_TIMEOUT_S,
                result_ttl=24 * 3600,
                description=f"broadcast {broadcast_id} batch {n}",
            )
        return len(batches)

    def run(
        self, broadcast_id: str, on_progress: Callable[[BroadcastProgress], None] | None = None
    ) -> BroadcastProgress:
        """Do every unfinished batch in this process (the CLI); resumable: call it again after an interruption."""
        for n in self.pending_batches(broadcast_id):
            self.run_batch(broadcast_id, n, on_progress)
        progress = self.get(broadcast_id)
        if on_progress is not None:
            on_progress(progress)
        return progress

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
            meta["text"] = self.notifier.box.decrypt(meta.pop("text_enc"), context=_text_context(broadcast_id))
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

    # --- watching ----------------------------------------------------------------------------------------
    def _wall_now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6

    def resume_abandoned(self) -> list[str]:
        """Re-enqueue the unfinished broadcasts that made no progress for ``stale_after`` seconds (their worker
        died, or none ran); the ids resumed. Safe from several workers: one of them resumes each."""
        resumed = []
        for raw in self.redis.smembers(keys.BROADCASTS_ACTIVE):
            broadcast_id = text(raw)
            attempt = self._take_over(broadcast_id)
            if attempt is None:
                continue
            if attempt > MAX_RESUMES:
                self._give_up(broadcast_id)
                continue
            self.enqueue(broadcast_id, attempt)
            resumed.append(broadcast_id)
            log.warning("broadcast resumed", extra={"broadcast": broadcast_id, "attempt": attempt})
        return resumed

    def _take_over(self, broadcast_id: str) -> int | None:
        """The resume attempt number if this broadcast is abandoned and this caller took it over, else None."""
        key = keys.broadcast(broadcast_id)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                status, heartbeat, resumes = (
                    text(v) if v is not None else None for v in pipe.hmget(key, ["status", "heartbeat", "resumes"])
                )
                if status is None or status in FINISHED:
                    pipe.unwatch()
                    if status is None:
                        self.redis.srem(keys.BROADCASTS_ACTIVE, broadcast_id)
                    return None
                if self._wall_now() - float(heartbeat or 0) < self.stale_after:
                    pipe.unwatch()
                    return None
                attempt = int(resumes or 0) + 1
                pipe.multi()
                pipe.hset(key, mapping={"heartbeat": repr(self._wall_now()), "resumes": str(attempt)})
                pipe.execute()
            except redis.WatchError:
                return None  # another worker took it over
        return attempt

    def _give_up(self, broadcast_id: str) -> None:
        fingerprint = text(self.redis.hget(keys.broadcast(broadcast_id), "fingerprint") or b"-")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.broadcast(broadcast_id), "status", BroadcastStatus.failed.value)
        pipe.srem(keys.BROADCASTS_ACTIVE, broadcast_id)
        pipe.delete(keys.broadcast_fingerprint(fingerprint))
        pipe.execute()
        log.error("broadcast given up", extra={"broadcast": broadcast_id})
