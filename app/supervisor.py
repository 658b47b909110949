"""The supervisor of ``guahao serve`` (SPEC §7): a thread that restarts the worker child and the embedded Redis when
they die, with back-off, and gives up — stopping ``serve`` with a non-zero exit — when one keeps dying.

A dead worker child is reaped at once (no zombie) together with whatever it left in its process group (RQ's
scheduler is a forked child of the worker). A dead embedded Redis is started again on the same data directory
(its append-only file is loaded back) and the same socket, so every client reconnects by itself; the worker is
not restarted while Redis is down (it could only fail again). After either comes back, ``on_restart`` runs (``serve``
hands over at once the broadcasts the dead part left half done, instead of after a minute of silence).

With an external Redis (a URL or Sentinels), ``redis_reachable`` tells whether it answers: a worker that exits while
it does not (a failover under way, the server being restarted) is not counted as a death — the cause is outside it,
and counting it would make ``serve`` give up during an outage it should simply wait out — and it is started again
once Redis answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.errors import RedisUnavailableError
from bot.storage.runtime import EmbeddedRedis

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25
BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
"""Wait before the 1st, 2nd, 3rd... restart of a part within :data:`RESTART_WINDOW_S`."""
MAX_RESTARTS = 4
RESTART_WINDOW_S = 120.0
"""More than :data:`MAX_RESTARTS` deaths of one part within this window: give up (serve exits non-zero)."""
WORKER_STOP_S = 30.0


@dataclass
class _Restarts:
    """The recent deaths of one part and when it is due to be started again."""

    name: str
    deaths: deque[float] = field(default_factory=deque)
    due: float | None = None

    def died(self, now: float) -> float | None:
        """Record a death; the delay before the restart, or None when it died too often to try again."""
        while self.deaths and now - self.deaths[0] > RESTART_WINDOW_S:
            self.deaths.popleft()
        self.deaths.append(now)
        if len(self.deaths) > MAX_RESTARTS:
            return None
        return BACKOFF_S[min(len(self.deaths), len(BACKOFF_S)) - 1]


class Supervisor:
    """Keeps ``serve``'s children alive; :meth:`worker_running_since` feeds ``/healthz``."""

    def __init__(
        self,
        start_worker: Callable[[], subprocess.Popen[bytes]],
        redis_server: EmbeddedRedis | None,
        on_give_up: Callable[[], None],
        on_restart: Callable[[str], None] = lambda part: None,
        redis_reachable: Callable[[], bool] | None = None,
    ) -> None:
        self._start_worker = start_worker
        self._redis = redis_server
        self._redis_reachable = redis_reachable
        self._on_give_up = on_give_up
        self._on_restart = on_restart
        self._worker: subprocess.Popen[bytes] | None = None
        self._worker_since: datetime | None = None
        self._restarts = {"worker": _Restarts("worker"), "redis": _Restarts("redis")}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guahao-supervisor", daemon=True)
        self.failure: str | None = None

    # --- life ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker child, then watch it (and the embedded Redis) from a thread."""
        self._spawn_worker()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, then stop the worker: a warm shutdown (the job in hand finishes), killed after 30 s."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        worker = self._worker
        if worker is None:
            return
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(WORKER_STOP_S)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        _kill_group(worker.pid)

    def worker_running_since(self) -> datetime | None:
        """When the current worker child started (wall clock); None while none is running."""
        worker, since = self._worker, self._worker_since
        if worker is None or worker.poll() is not None:  # poll() also reaps a child that just died
            return None
        return since

    # --- watching --------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            try:
                self.check()
            except Exception:  # the watch itself must go on: a failed restart is retried at the next check
                log.exception("supervisor check failed")
            if self.failure is not None:
                self._on_give_up()
                return

    def check(self) -> None:
        """One round: notice deaths, restart what is due."""
        now = time.monotonic()
        redis_up = self._check_redis(now)
        worker = self._worker
        restarts = self._restarts["worker"]
        if worker is not None and restarts.due is None and worker.poll() is not None:
            _kill_group(worker.pid)  # RQ's scheduler, orphaned by the worker's death
            self._worker_since = None
            if redis_up and self._external_redis_down():
                restarts.due = now  # Redis's outage, not the worker's fault: no death counted, restart when it answers
                log.warning("worker exited while Redis is unreachable; restarting it when Redis answers")
            else:
                self._schedule(restarts, now, f"exit code {worker.returncode}")
        if redis_up and restarts.due is not None and self._external_redis_down():
            return
        if redis_up and restarts.due is not None and now >= restarts.due and self.failure is None:
            restarts.due = None
            self._spawn_worker()
            log.warning("worker restarted", extra={"pid": self._worker.pid if self._worker else None})
            self._on_restart("worker")

    def _external_redis_down(self) -> bool:
        if self._redis_reachable is None:
            return False
        try:
            return not self._redis_reachable()
        except Exception:
            return True

    def _check_redis(self, now: float) -> bool:
        server = self._redis
        if server is None:
            return True
        restarts = self._restarts["redis"]
        if restarts.due is None and server.process.poll() is not None:
            self._schedule(restarts, now, f"exit code {server.process.returncode}")
        if restarts.due is None:
            return True
        if now < restarts.due or self.failure is not None:
            return False
        restarts.due = None
        try:
            server.restart()
        except RedisUnavailableError as failed:
            log.error("embedded redis-server did not come back", extra={"error": str(failed)})
            return False  # dead again: the next check schedules another try, with more back-off
        log.warning("embedded redis-server restarted", extra={"pid": server.process.pid})
        self._on_restart("redis")
        return True

    def _schedule(self, restarts: _Restarts, now: float, how: str) -> None:
        delay = restarts.died(now)
        if delay is None:
            self.failure = f"{restarts.name} died {len(restarts.deaths)} times within {RESTART_WINDOW_S:g} s"
            log.error("giving up: %s", self.failure)
            return
        restarts.due = now + delay
        log.error("%s died; restarting", restarts.name, extra={"how": how, "in_seconds": delay})

    def _spawn_worker(self) -> None:
        self._worker_since = datetime.now(UTC)
        self._worker = self._start_worker()


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (the child runs in a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
