"""The confirmations' batch job: one RQ job sends every booking confirmation waiting in line.

A booking's script (``reminders_booked.lua``, :meth:`bot.reminders.Reminders.on_booked`) claims its confirmation and
puts the claim in line (``keys.CONFIRMATIONS_WAITING``); it queues a job only when it could set the job flag
(``keys.CONFIRMATIONS_JOB``, ``SET NX`` with the new job's id): one job at a time, not one per booking. At a release
rush a job per booking cost the worker more than the confirmations (some twenty round trips of RQ's own bookkeeping
each); a few jobs now confirm thousands.

The job (:meth:`ConfirmationJob.run`) takes :data:`BATCH` at a time and keeps its flag alive while it works
(``confirmations_take.lua``); on an empty line it lingers (a blocking pop) for more, and ends only through
``confirmations_done.lua``, which deletes the flag — if still its own — in the same step as the check that none is
waiting, so a booking landing after that queues the next job and none waits without one. After half its RQ timeout it
hands the flag and the rest to a successor job. A confirmation whose send fails keeps its
claim, which lapses into a single job (:meth:`bot.reminders.Reminders.dispatch_due`); so does what a killed job had
taken. An unexpected error puts the untried rest back in line for a successor first. Every confirmation is sent once
whatever sends it (its id is its send-once key).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta

import redis
from rq import Queue

from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

BATCH = 50
"""Confirmations taken from Redis at a time."""
LINGER_S = 0.2
"""How long a job waits for more once the line is empty, before it ends."""
WAITING_TTL = timedelta(days=1)
"""The line expires this long after the last confirmation joined it (their claims lapse long before)."""
FLAG_TTL = timedelta(minutes=1)
"""The job flag's lifetime, renewed at each take: a job that died leaves it for at most this long."""
HELD = [keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB]


def new_job_id() -> str:
    """The id of a confirmations' job (RQ allows no ``:`` in ids); the value of the job flag while it holds it."""
    return f"confirmations-{uuid.uuid4().hex}"


class ConfirmationJob:
    """Queues and runs the confirmations' batch job. ``send`` sends one claimed confirmation and says what happened
    (``failed`` when it could not be sent now: its claim stays, to lapse into a single job); ``job_timeout_s`` and
    ``result_ttl_s`` are RQ's settings of guahao's jobs."""

    def __init__(
        self,
        redis_client: redis.Redis,
        queue: Queue,
        send: Callable[[bytes | str], str],
        *,
        job_timeout_s: int,
        result_ttl_s: int,
    ) -> None:
        self.redis = redis_client
        self.queue = queue
        self._send = send
        self._job_timeout_s = job_timeout_s
        self._result_ttl_s = result_ttl_s
        self._scripts = Scripts(redis_client, "confirmations_take", "confirmations_done")
        self.linger_s = LINGER_S
        self.job_seconds = job_timeout_s / 2
        """A job that has worked this long hands over to a successor."""

    def flag_args(self, job_id: str) -> list[int | str]:
        """What ``reminders_booked.lua`` needs to put a confirmation in line and set the flag for ``job_id``."""
        return [int(WAITING_TTL.total_seconds()), int(FLAG_TTL.total_seconds()), job_id]

    def enqueue(self, job_id: str, *, hand_over: bool = False) -> None:
        """Queue the job ``job_id`` (one round trip); ``hand_over``: it takes over the flag (a successor)."""
        pipe = self.redis.pipeline(transaction=True)  # RQ's enqueue must come first in it
        self.queue.enqueue(
            "bot.jobs.send_confirmations",
            job_id,
            job_id=job_id,
            job_timeout=self._job_timeout_s,
            result_ttl=self._result_ttl_s,
            description="confirmations waiting",
            pipeline=pipe,
        )
        if hand_over:
            pipe.set(keys.CONFIRMATIONS_JOB, job_id, ex=FLAG_TTL)
        pipe.execute()

    def run(self, job_id: str) -> str:
        """The job: send what waits in line until none is left or its time is up (see the module); what happened,
        counted."""
        outcomes: Counter[str] = Counter()
        until = time.monotonic() + self.job_seconds
        while True:
            taken = self._take(job_id)
            if not taken and self._scripts.run("confirmations_done", keys=HELD, args=[job_id]):
                break
            self._send_all(taken, outcomes)
            if time.monotonic() >= until:
                self.enqueue(new_job_id(), hand_over=True)
                outcomes["successor queued"] += 1
                break
        return ", ".join(f"{what} {n}" for what, n in sorted(outcomes.items())) or "none waiting"

    def _take(self, job_id: str) -> list[bytes | str]:
        flag = int(FLAG_TTL.total_seconds())
        taken: list[bytes | str] = self._scripts.run("confirmations_take", keys=HELD, args=[BATCH, job_id, flag])
        if taken:
            return taken
        came = self.redis.blpop([keys.CONFIRMATIONS_WAITING], timeout=self.linger_s)
        return [came[1]] if came else []

    def _send_all(self, taken: Sequence[bytes | str], outcomes: Counter[str]) -> None:
        for n, claim in enumerate(taken):
            try:
                outcomes[self._send(claim)] += 1
            except Exception:
                self._put_back(taken[n + 1 :])
                raise

    def _put_back(self, rest: Sequence[bytes | str]) -> None:
        """Before an unexpected error ends the job: the untried rest back at the head of the line, for a successor
        (the one that failed keeps its claim, which lapses into a single job)."""
        try:
            if rest:
                self.redis.lpush(keys.CONFIRMATIONS_WAITING, *reversed(rest))
            self.enqueue(new_job_id(), hand_over=True)
        except redis.RedisError:
            log.warning("confirmations not handed over; their claims lapse into single jobs", extra={"left": len(rest)})
