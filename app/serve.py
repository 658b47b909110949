"""``guahao serve``: the web app on waitress plus a background worker, one command, one Ctrl-C.

The listening socket is bound first, so a busy port is one clear line before anything else happens. The worker runs
as a child process (``guahao worker``) so that RQ's signal handling works, pointed at the same Redis (the embedded
server's private socket is handed over in ``GUAHAO_REDIS_URL``; an external Redis, or Sentinels, it finds in the same
configuration); a :class:`~app.supervisor.Supervisor` thread
restarts it, and the embedded Redis, when they die, and stops ``serve`` (exit 1) when one keeps dying. On Ctrl-C or
SIGTERM the web server stops, the worker finishes its job in hand, and the embedded Redis stops last, after its data
is flushed to disk.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

import waitress

from app.demo import CALENDAR_BASE_KEY, demo_schedule_csv, with_demo_calendar
from app.services import build_services
from app.supervisor import Supervisor
from app.web import REDIS_SOCKET_TIMEOUT_S, create_app
from bot.config import ENV_PREFIX, Config, mainland_warnings
from bot.errors import GuahaoError
from bot.services import Services
from bot.storage.runtime import open_redis, probe

log = logging.getLogger(__name__)

WEB_THREADS = 16
LISTEN_BACKLOG = 1024


class ListenError(GuahaoError):
    """The web server cannot listen where it was told to."""


def serve(config: Config, *, demo: bool, host: str | None, port: int | None, config_path: str | None) -> int:
    """Run until interrupted; the exit code (1 when a part kept dying)."""
    listen_host, listen_port = host or config.server.host, port if port is not None else config.server.port
    listener = listen(listen_host, listen_port)  # before Redis, demo slots or the worker: a busy port changes nothing
    if demo:  # the calendar links point here unless configured (the port as bound: --port 0 too)
        config = with_demo_calendar(config, listen_host, listener.getsockname()[1])
    runtime = open_redis(config.redis, wait=True, socket_timeout=REDIS_SOCKET_TIMEOUT_S)  # an external Redis not
    # up yet is waited for, one line a try; each command of the web process bounded
    metrics_dir = Path(config.redis.data_dir) / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # values of an earlier run must not be added to this one
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    services = build_services(config, runtime.redis)
    handed_over = _demo_settings(config)
    services.runtime = runtime
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    supervisor = Supervisor(
        lambda: _start_worker(runtime.url if runtime.embedded else None, demo, config_path, metrics_dir, handed_over),
        runtime.embedded,
        on_give_up=lambda: signal.pthread_kill(main_thread, signal.SIGTERM),  # wakes waitress's loop at once
        on_restart=lambda part: _take_over_broadcasts(services),
        redis_reachable=None if runtime.embedded else probe(config.redis),
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if demo and config.source("hospitals") == "demo":  # the demo's slots are for the demo's hospitals only:
            # an operator's own hospitals (from the file) get no invented schedule (SPEC §7: --demo only fills gaps)
            today = services.clock.now().astimezone(config.policy.tz).date()
            slots = services.schedule.import_csv(demo_schedule_csv(today))
            log.info("demo schedule loaded", extra={"slots": slots, "from": today.isoformat()})
        supervisor.start()
        app = create_app(services, worker_watch=supervisor)
        server = waitress.create_server(app, sockets=[listener], threads=WEB_THREADS, ident="guahao")
        bound_port = listener.getsockname()[1]
        log.info("serving", extra={"url": f"http://{listen_host}:{bound_port}/", "simulator": config.server.simulator})
        for warning in mainland_warnings(config.sms):
            log.warning("config: %s", warning)
        server.run()  # returns on SIGTERM/Ctrl-C (waitress closes itself on KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        signal.signal(signal.SIGTERM, previous)
        supervisor.stop()
        listener.close()
        services.close()  # the embedded Redis last, after its AOF is flushed
    if supervisor.failure is not None:
        log.error("stopped: %s", supervisor.failure)
        return 1
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on ``host:port``, or one clear line saying why not."""
    if not 0 <= port <= 65535:  # getaddrinfo would quietly take it modulo 65536
        raise ListenError(f"port {port} is not a TCP port (0-65535)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
    except (OSError, OverflowError, UnicodeError) as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does: no wait after a restart
        listener.bind(address)
        listener.listen(LISTEN_BACKLOG)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"port {port} is in use on {host}: stop what listens there or choose --port") from None
        raise ListenError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    return listener


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _take_over_broadcasts(services: Services) -> None:
    """A part died: the broadcast batches it was running are abandoned now. Re-enqueue them at once rather than
    after ``stale_after`` of silence (a batch run twice doubles nothing: sends and counts are once per recipient)."""
    broadcasts = services.broadcasts
    waited, broadcasts.stale_after = broadcasts.stale_after, 0.0
    try:
        resumed = broadcasts.resume_abandoned()
    finally:
        broadcasts.stale_after = waited
    if resumed:
        log.warning("broadcasts handed over after a restart", extra={"broadcasts": len(resumed)})


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _demo_settings(config: Config) -> dict[str, str]:
    """What ``--demo`` filled in here that the worker child cannot work out itself (it does not listen), as the
    ``GUAHAO_*`` variables that hand it over: only where no layer set it, so no setting of the operator is replaced."""
    if config.source(CALENDAR_BASE_KEY) != "demo":
        return {}
    return {ENV_PREFIX + CALENDAR_BASE_KEY.replace(".", "_").upper(): config.server.calendar_base_url}


def _start_worker(
    redis_url: str | None, demo: bool, config_path: str | None, metrics_dir: Path, settings: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The worker child; ``redis_url``: the embedded server's socket (an external Redis or Sentinel deployment is
    found by the child in the same configuration); ``settings``: what ``--demo`` filled in (:func:`_demo_settings`)."""
    command = [sys.executable, "-m", "app", "worker", *(["--demo"] if demo else [])]
    if config_path:
        command += ["--config", config_path]
    env = {**os.environ, **settings, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    if redis_url is not None:
        env["GUAHAO_REDIS_URL"] = redis_url
    # a session of its own: Ctrl-C reaches serve only (which stops the worker warmly, once), and what the worker
    # leaves behind when it dies (RQ's scheduler) can be killed by its process group
    return subprocess.Popen(command, env=env, start_new_session=True)
