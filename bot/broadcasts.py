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
runs. A batch's work (the sends, their retries, the shared rate limits) is
:class:`bot.broadcast_sends.BroadcastSends`; where a broadcast stands, :mod:`bot.broadcast_progress`.
The staff's text is stored encrypted (it may name someone) and the request's fingerprint is a keyed hash.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
from pydantic import ValidationError
from rq import Queue

import rules
from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.broadcast_progress import FINISHED, BroadcastProgress, BroadcastStatus
from bot.broadcast_request import BroadcastRequest
from bot.broadcast_sends import SEND_RATES, BroadcastSends, text_context
from bot.clock import Clock
from bot.errors import GuahaoError
from bot.notifications.notifier import Notifier
from bot.records import Appointment, text
from bot.reminders import Reminders, job_queue
from bot.schedule import Schedule
from bot.storage import keys
from bot.storage.scripts import Scripts
from bot.validation import reasons

__all__ = [
    "SEND_RATES",
    "BroadcastProgress",
    "BroadcastStatus",
    "Broadcasts",
    "InvalidBroadcastError",
]

log = logging.getLogger(__name__)

Status = rules.AppointmentStatus

BATCH_SIZE = 500
"""Serials per batch job."""
STALE_AFTER_S = 60.0
"""A broadcast without progress for this long (wall clock) is considered abandoned and re-enqueued."""
MAX_RESUMES = 10
"""An abandoned broadcast is re-enqueued at most this many times, then marked failed."""
RETRY_DELAYS_S = (1.0, 5.0)
"""Backoff before each retry of the failed sends of a batch; after the last, they are counted failed."""
BATCH_TIMEOUT_S = 3600


class InvalidBroadcastError(GuahaoError):
    """The broadcast request is not acceptable; the message names the field and why."""


def _audit_detail(broadcast_id: str, request: BroadcastRequest, total: int) -> str:
    """What the audit trail says of a new broadcast: ids and counts, not the free text (it may name someone)."""
    return (
        f"broadcast={broadcast_id} hospital={request.hospital} department={request.department or '*'} "
        f"doctor={request.doctor or '*'} date={request.date} cancel={int(request.cancel)} total={total}"
    )


class Broadcasts(BroadcastSends):
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
            "text_enc": self.notifier.box.encrypt(request.text, context=text_context(broadcast_id)),
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

    # --- watching ----------------------------------------------------------------------------------------

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
