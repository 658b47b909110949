"""The background worker (``guahao worker``, and the one ``guahao serve`` runs): an RQ worker with its scheduler on
guahao's queue (JSON serializer), plus a periodic tick (:func:`bot.jobs.run_periodic`) every
:data:`PERIODIC_SECONDS`.

It is RQ's ``SimpleWorker``: jobs run in this process (no fork per job), so the services are built once. SIGTERM or
Ctrl-C is a warm shutdown: the job in hand finishes, then the worker exits (a second signal is a cold shutdown; the
jobs are idempotent, so one cut short is simply done again). Those signal handlers are only installed in the main
thread; ``run_worker(services, burst=True)`` also works from any other thread (the simulator, after moving the clock,
runs the due jobs in its request thread), with a timer instead of SIGALRM for job timeouts.

The tick is a small thread of our own, not rq's ``CronScheduler`` (rq 3.0): that one enqueues with the default
(pickle) serializer into a queue that is JSON here, takes whole-second intervals, installs signal handlers (main
thread only) and sleeps up to a minute between checks — it is meant as a process of its own, which ``guahao serve``
would then have to supervise too. The duties read the deployment clock from Redis each time, so a wall-clock
interval is all the tick needs; the simulator runs the same tick right after moving that clock.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from bot import jobs
from bot.archive import archive_duty
from bot.reminders import job_queue
from bot.services import Services

log = logging.getLogger(__name__)
WORKER_TTL_S = 20

PERIODIC_SECONDS = 15.0
"""How often the worker runs the periodic tick (sweep, due reminders, releases, abandoned broadcasts)."""


class _Worker(SimpleWorker):
    """RQ's in-process worker, usable outside the main thread (no signal handlers there, timer-based timeouts), that
    hands its jobs the services of this process (:func:`bot.jobs.bound_to`)."""

    def __init__(self, services: Services, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.services = services
        if not _main_thread():
            self.death_penalty_class = TimerDeathPenalty

    def execute_job(self, job: Job, queue: Queue) -> None:
        with jobs.bound_to(self.services):
            super().execute_job(job, queue)

    def _install_signal_handlers(self) -> None:
        if _main_thread():
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_worker(services: Services, *, burst: bool = False, periodic_seconds: float = PERIODIC_SECONDS) -> None:
    """Work guahao's queue until SIGTERM/Ctrl-C (``burst``: one periodic tick, then until the queue is empty)."""
    # a short worker TTL makes the blocking dequeue return every few seconds: a SIGTERM that the OS hands to
    # another thread is then acted on promptly by the main thread (where Python runs signal handlers)
    worker = _Worker(
        services,
        [job_queue(services.redis)],
        connection=services.redis,
        serializer=JSONSerializer,
        worker_ttl=WORKER_TTL_S,
    )
    _tick(services)
    if burst:
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(periodic_seconds):
            _tick(services)

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
        log.info("worker stopped")


def _tick(services: Services) -> None:
    try:
        jobs.run_periodic(services)
    except Exception:  # one failed tick (Redis restarting, say) must not stop the worker: the next one retries
        log.exception("periodic tick failed")
    try:
        archive_duty(services.redis, services.config, services.clock)
    except Exception:  # the archive is idempotent: the next tick settles and goes on
        log.exception("archive duty failed")
