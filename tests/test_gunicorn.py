"""Several gunicorn worker processes in front of one Redis: sessions shared, /metrics adds every process up;
/healthz is 503 until a `guahao worker` beside them sends heartbeats."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.storage.runtime import EmbeddedRedis
from tests.support import SECRET
from tests.test_serve import free_port


def post(url: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def health(base: str, tmp_path: Path) -> tuple[int, object]:
    """``/healthz`` once gunicorn answers at all: (status, body)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as answer:
            return answer.code, json.loads(answer.read())
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.2)


def test_metrics_are_right_across_two_gunicorn_workers(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    redis_server.client().flushall()
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "GUAHAO_REDIS_URL": redis_server.url,
        "GUAHAO_SERVER_SIMULATOR": "true",
        "GUAHAO_SECURITY_SECRET_KEY": SECRET,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app.wsgi:app"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "gunicorn.log").open("w"),
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    worker: subprocess.Popen[bytes] | None = None
    try:
        assert health(base, tmp_path) == (503, {"status": "unavailable", "redis": "ok", "worker": "down"})
        # the production set-up (README): `guahao worker` beside the WSGI server; its heartbeats make /healthz 200
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.log").open("w"), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while health(base, tmp_path)[0] != 200:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)

        def send(n: int) -> object:  # at the same time, so that both workers take some
            return post(base + "/simulator/send", {"channel": "wechat", "user": f"o-g{n}", "text": "5"})["replies"]

        def writers() -> set[str]:  # the web processes that counted something (one values file each)
            return {re.sub(r"\D", "", f.name) for f in metrics_dir.glob("counter_*.db")} - {str(worker.pid)}

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while len(writers()) < 2 and sent < 400:
                assert all(pool.map(send, range(sent, sent + 40)))
                sent += 40
        assert len(writers()) == 2, "both worker processes served and counted"
        for _ in range(6):  # whichever worker answers, the figure is the sum of both
            with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
                text = response.read().decode()
            found = re.search(r'guahao_messages_in_total\{channel="wechat"\} ([0-9.]+)', text)
            assert found and float(found.group(1)) == sent, text[:1500]
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(30)
