"""The background worker (``guahao worker``, and the one ``guahao serve`` runs): an RQ worker with its scheduler on
guahao's queue (JSON serializer), plus a periodic tick (:func:`bot.jobs.run_periodic`) every
:data:`PERIODIC_SECONDS`.

It is RQ's ``SimpleWorker``: jobs run in this process (no fork per job), so the services are built once. SIGTERM or
Ctrl-C is a warm shutdown: the job in hand finishes, then the worker exits (a second signal is a cold shutdown; the
jobs are idempotent, so one cut short is simply done again). Those signal handlers are only installed in the main
thread; ``run_worker(services, burst=True)`` also works from any other thread (the simulator, after moving the clock,
runs the due jobs in its request thread), with a timer instead of SIGALRM for job timeouts.

A burst run returns only once guahao's queue is *settled* (:func:`_settled`): nothing queued, and no job in the hands of
another worker. Beside it the long-running worker (``guahao serve``'s child) is blocked on the same queue and takes a
job the moment it is queued — often the very reminder the burst's tick just dispatched, or a confirmation queued a
moment before; returning while that worker still runs it would answer the simulator before the message is in the
outbox. The wait is bounded (:data:`SETTLE_TIMEOUT_S`): a job held by a worker that died is never waited for long.

The tick is a small thread of our own, not rq's ``CronScheduler`` (rq 3.0): that one enqueues with the default
(pickle) serializer into a queue that is JSON here, takes whole-second intervals, installs signal handlers (main
thread only) and sleeps up to a minute between checks — it is meant as a process of its own, which ``guahao serve``
would then have to supervise too. The duties read the deployment clock from Redis each time, so a wall-clock
interval is all the tick needs; the simulator runs the same tick right after moving that clock.

With several workers (several machines against one Redis, SPEC §7), the tick of the long-running worker runs under
the Redis lease ``periodic`` (:class:`bot.lease.Lease`, :data:`LEASE_TTL_MS`): one worker at a time runs it, renewing
the lease every tick; when that worker dies the lease lapses and another takes the duties over. RQ jobs
(reminders, broadcast batches) are handed to one worker each by RQ itself.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from bot import jobs
from bot.archive import archive_duty
from bot.lease import Lease
from bot.reminders import job_queue
from bot.services import Services

log = logging.getLogger(__name__)
WORKER_TTL_S = 20
JOB_HEARTBEAT_S = 10.0
"""How often a worker busy with a job tells RQ it is alive (``/healthz`` wants a beat within 60 s)."""

PERIODIC_SECONDS = 15.0
"""How often the worker runs the periodic tick (sweep, due reminders, releases, abandoned broadcasts)."""
LEASE_TURNS = 3
"""The periodic lease lasts this many ticks: a holder that missed two ticks (dead, or stuck) loses it."""
PERIODIC_DUTY = "periodic"
SETTLE_TIMEOUT_S = 30.0
"""How long a burst run waits, at most, for the jobs that other workers hold to finish."""
SETTLE_POLL_S = 0.02


class _Worker(SimpleWorker):
    """RQ's in-process worker, usable outside the main thread (no signal handlers there, timer-based timeouts), that
    hands its jobs the services of this process (:func:`bot.jobs.bound_to`)."""

    def __init__(self, services: Services, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.services = services
        if not _main_thread():
            self.death_penalty_class = TimerDeathPenalty

    def execute_job(self, job: Job, queue: Queue) -> None:
        with jobs.bound_to(self.services), _beating(self, job):
            super().execute_job(job, queue)

    def _install_signal_handlers(self) -> None:
        if _main_thread():
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]


@contextmanager
def _beating(worker: SimpleWorker, job: Job) -> Iterator[None]:
    """Heartbeats every :data:`JOB_HEARTBEAT_S` while ``job`` runs, as RQ's forking worker does while its work horse
    runs one (``monitor_work_horse``); RQ's ``SimpleWorker`` runs the job in this thread and beats only between jobs,
    so a job longer than ``/healthz``'s freshness (a broadcast batch of hundreds of sends) made a busy worker look
    dead. Never past the job's own timeout: a job stuck beyond it is killed by RQ, and then the beats stop."""
    stop = threading.Event()
    limit = time.monotonic() + job.timeout if job.timeout and job.timeout > 0 else None

    def beat() -> None:
        while not stop.wait(JOB_HEARTBEAT_S) and (limit is None or time.monotonic() < limit):
            with contextlib.suppress(redis.RedisError, OSError):  # Redis away: the worker's own loop reports that
                worker.heartbeat(worker.get_heartbeat_ttl(job))

    beating = threading.Thread(target=beat, name="guahao-job-heartbeat", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_worker(services: Services, *, burst: bool = False, periodic_seconds: float = PERIODIC_SECONDS) -> None:
    """Work guahao's queue until SIGTERM/Ctrl-C (``burst``: one periodic tick, then until the queue is settled:
    empty, and no job of it still in another worker's hands)."""
    if burst:  # the simulator's or a test's explicit run: the tick now, whoever holds the lease
        _tick(services)
        _work_until_settled(services)
        return
    worker = _new_worker(services)
    lease = Lease(services.redis, PERIODIC_DUTY, round(periodic_seconds * LEASE_TURNS * 1000))
    _tick(services, lease)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(periodic_seconds):
            _tick(services, lease)

    ticker = threading.Thread(target=loop, name="guahao-periodic", daemon=True)
    ticker.start()
    log.info("worker started", extra={"periodic_seconds": periodic_seconds})
    try:
        worker.work(with_scheduler=True)
    except StopRequested:
        pass  # RQ's warm-shutdown signal landed outside its own loop (during teardown): a normal stop all the same
    finally:
        if _main_thread():  # the job in hand is done: a further SIGTERM during the clean-up changes nothing
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()
        ticker.join(timeout=periodic_seconds + 5)
        _release(lease)
        log.info("worker stopped")


def _new_worker(services: Services) -> _Worker:
    # a short worker TTL makes the blocking dequeue return every few seconds: a SIGTERM that the OS hands to
    # another thread is then acted on promptly by the main thread (where Python runs signal handlers)
    return _Worker(
        services,
        [job_queue(services.redis)],
        connection=services.redis,
        serializer=JSONSerializer,
        worker_ttl=WORKER_TTL_S,
    )


def _work_until_settled(services: Services, timeout: float = SETTLE_TIMEOUT_S) -> None:
    """Burst-work the queue, then wait while another worker holds one of its jobs (a job it runs may queue more:
    those are worked too), up to ``timeout`` seconds."""
    queue = job_queue(services.redis)
    deadline = time.monotonic() + timeout
    while True:
        if queue.count:
            _new_worker(services).work(burst=True, with_scheduler=True, logging_level="WARNING")
        if _settled(queue):
            return
        if time.monotonic() >= deadline:
            log.warning("jobs still running elsewhere after a burst run", extra={"waited_s": timeout})
            return
        time.sleep(SETTLE_POLL_S)


def _settled(queue: Queue) -> bool:
    """Nothing queued, nothing taken off the queue (rq's intermediate list) and nothing being run."""
    if queue.count or queue.connection.llen(queue.intermediate_queue_key):
        return False
    return not queue.started_job_registry.get_job_ids()  # (after rq's clean-up of expired entries: dead workers)


def _tick(services: Services, lease: Lease | None = None) -> None:
    """One periodic tick; with ``lease``, only while this worker holds it (another worker runs it otherwise)."""
    try:
        if lease is not None and not lease.hold():
            return
        jobs.run_periodic(services)
    except Exception:  # one failed tick (Redis restarting, say) must not stop the worker: the next one retries
        log.exception("periodic tick failed")
    try:
        if lease is not None and not lease.held:
            return  # the archive too is one worker's duty at a time (docs/archive.md)
        archive_duty(services.redis, services.config, services.clock)
    except Exception:  # the archive is idempotent: the next tick settles and goes on
        log.exception("archive duty failed")


def _release(lease: Lease) -> None:
    try:
        lease.release()
    except Exception:  # Redis gone at shutdown: the lease lapses by itself
        log.warning("periodic lease not released (it lapses by itself)")
