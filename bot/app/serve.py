"""``guahao serve``: the web app on waitress plus a background worker, one command, one Ctrl-C.

The worker runs as a child process (``guahao worker``) so that RQ's signal handling works, pointed at the same Redis
(the embedded server's private socket is handed over in ``GUAHAO_REDIS_URL``). On Ctrl-C or SIGTERM the web server
stops, the worker finishes its job in hand, and the embedded Redis stops last, after its data is flushed to disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import waitress

from bot.app.demo import demo_schedule_csv
from bot.app.services import build_services
from bot.app.web import create_app
from bot.config import Config
from bot.redis_runtime import open_redis

log = logging.getLogger(__name__)

WEB_THREADS = 16
WORKER_STOP_S = 30


def serve(config: Config, *, demo: bool, host: str | None, port: int | None, config_path: str | None) -> int:
    """Run until interrupted; the exit code."""
    runtime = open_redis(config.redis)
    metrics_dir = Path(config.redis.data_dir) / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # values of an earlier run must not be added to this one
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    services = build_services(config, runtime.redis)
    services.runtime = runtime
    worker: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if demo:
            today = services.clock.now().astimezone(config.policy.tz).date()
            slots = services.schedule.import_csv(demo_schedule_csv(today))
            log.info("demo schedule loaded", extra={"slots": slots, "from": today.isoformat()})
        worker = _start_worker(runtime.url, demo, config_path, metrics_dir)
        app = create_app(services)
        listen_host, listen_port = host or config.server.host, port or config.server.port
        log.info("serving", extra={"url": f"http://{listen_host}:{listen_port}/", "simulator": config.server.simulator})
        waitress.serve(app, host=listen_host, port=listen_port, threads=WEB_THREADS, ident="guahao", _quiet=True)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_worker(worker)
        services.close()  # the embedded Redis last, after its AOF is flushed
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _start_worker(redis_url: str, demo: bool, config_path: str | None, metrics_dir: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bot", "worker", *(["--demo"] if demo else [])]
    if config_path:
        command += ["--config", config_path]
    env = {**os.environ, "GUAHAO_REDIS_URL": redis_url, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    return subprocess.Popen(command, env=env)


def _stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)  # warm shutdown: the job in hand finishes
    try:
        worker.wait(WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
