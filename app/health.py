"""``GET /healthz`` (SPEC §7): Redis answers, and — where a worker is expected — one has shown it is alive lately.

A worker is alive when RQ's own registry of workers on guahao's queue holds one whose ``last_heartbeat`` is at most
:data:`HEARTBEAT_FRESH_S` old. RQ writes that heartbeat from the loop that takes jobs (every few seconds while idle,
at the start of every job), so it proves that loop runs — a heartbeat thread of our own would keep beating beside
a stuck loop. While a job runs, guahao's worker beats as RQ's forking worker does while its work horse runs
(``app.worker._beating``: every ``JOB_HEARTBEAT_S``, never past the job's own timeout), so a long broadcast batch is
a busy worker, not a dead one. Heartbeats are read against the real wall clock (RQ writes them so), never the
simulated one.

Under ``guahao serve`` the supervisor also knows whether its worker child is running and since when: a dead child
is "down" at once (its last heartbeat stays fresh for a minute), and a restarted one counts only from its own
first heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from rq import Worker
from rq.serializers import JSONSerializer

from bot.reminders import job_queue

HEARTBEAT_FRESH_S = 60.0


class WorkerWatch(Protocol):
    """What a supervisor tells about the worker it runs."""

    def worker_running_since(self) -> datetime | None:
        """When the current worker child started (aware, wall clock); None while none is running."""


@dataclass(frozen=True)
class Health:
    """The answer of ``/healthz``: each part ``ok``, ``down``, ``unknown`` (not checkable) or ``not_expected``."""

    redis: str
    worker: str

    @property
    def ok(self) -> bool:
        return self.redis == "ok" and self.worker in ("ok", "not_expected")

    def body(self) -> dict[str, str]:
        return {"status": "ok" if self.ok else "unavailable", "redis": self.redis, "worker": self.worker}


def check(client: redis.Redis, *, expect_worker: bool, watch: WorkerWatch | None = None) -> Health:
    """Ping Redis; then, when a worker is expected, look for a fresh heartbeat (after the watched child started)."""
    try:
        client.ping()
    except (redis.RedisError, OSError):
        down = expect_worker and watch is not None and watch.worker_running_since() is None
        return Health("down", "not_expected" if not expect_worker else "down" if down else "unknown")
    if not expect_worker:
        return Health("ok", "not_expected")
    since = datetime.now(UTC) - timedelta(seconds=HEARTBEAT_FRESH_S)
    if watch is not None:
        started = watch.worker_running_since()
        if started is None:
            return Health("ok", "down")
        since = max(since, started)
    try:
        alive = any(
            w.last_heartbeat is not None and w.last_heartbeat >= since
            for w in Worker.all(queue=job_queue(client), serializer=JSONSerializer)
        )
    except (redis.RedisError, OSError):
        return Health("down", "unknown")
    return Health("ok", "ok" if alive else "down")
