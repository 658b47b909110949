"""``guahao serve`` supervised (SPEC §7), as real processes on a real redis-server: SIGKILL the worker child, or the
embedded Redis, in the middle of a broadcast; each comes back, ``/healthz`` says 503 meanwhile and 200 after, the
broadcast ends with every recipient notified exactly once and no acknowledged booking lost. A Redis that cannot come
back stops ``serve`` with a non-zero exit; a busy port is one line before anything is touched."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import rules
from bot.clock import RedisClock
from bot.config import RedisConfig, load_config
from bot.storage.runtime import open_redis
from tests.support import NOW, STAFF_TOKEN, Services, make_services, schedule_csv, slot_of
from tests.test_serve import Server, free_port, wait_healthy
from tests.test_worker import config_toml

VISIT = NOW.date() + timedelta(days=2)
SLOTS = [slot_of("h1", d, VISIT, pm) for d in ("nk", "wk", "ek") for pm in (False, True)]
RECIPIENTS = 2_000


@dataclass
class Deployment:
    """A running ``guahao serve --config F`` with an embedded Redis under ``data``, and the test's own services."""

    server: Server
    data: Path
    svc: Services

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def children(self) -> dict[str, int]:
        """``serve``'s live children: ``redis`` and ``worker`` → pid (zombies included: they are still children)."""
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command, rest = (entry / "stat").read_text().rsplit(")", 1)
                fields = rest.split()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(fields[1]) != self.pid:
                continue
            name = "redis" if command.endswith("redis-server") else "worker" if b"worker" in cmdline else "?"
            found[name] = int(entry.name)
            if fields[0] == "Z":
                found[name + "-zombie"] = int(entry.name)
        return found

    def health(self) -> int:
        try:
            with urllib.request.urlopen(self.server.base + "/healthz", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as answer:
            return answer.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0

    def progress(self, broadcast_id: str) -> dict[str, Any]:
        status, answer = self.server.call("GET", f"/api/staff/broadcasts/{broadcast_id}", token=STAFF_TOKEN)
        return answer if status == 200 else {"status": f"http {status}", "sent": -1}


def wait_for(check: Callable[[], bool], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log.read_text()[-4000:]}"
        time.sleep(0.02)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(config_toml("").replace('url = ""', f'data_dir = "{data}"'))
    port, log = free_port(), tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    runtime = None
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, 30)
        runtime = open_redis(RedisConfig(data_dir=str(data)))  # joins serve's embedded server
        assert runtime.embedded is None
        clock = RedisClock(runtime.redis)
        clock.set(NOW)
        svc = make_services(runtime.redis, load_config(str(config)), clock)
        yield Deployment(Server(process, f"http://127.0.0.1:{port}", log), data, svc)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(40)
        if runtime is not None:
            runtime.redis.close()


def book_everyone(svc: Services) -> list[str]:
    """Many patients booked on the visit day, through the services, several at a time as a morning rush would."""
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1), days=3, capacity=1000, hospitals=("h1",)))

    def book(n: int) -> str:
        acct, patient = svc.patient(n)
        appointment = svc.booking.book(patient.pid, acct, "wechat", SLOTS[n % len(SLOTS)])
        svc.notifier.remember_address(appointment, f"openid-{n}")
        return appointment.serial

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(book, range(1, RECIPIENTS + 1)))


def start_broadcast(deployment: Deployment) -> str:
    body = {"hospital": "h1", "date": VISIT.isoformat(), "text": "明日门诊时间调整", "cancel": False}
    status, answer = deployment.server.call("POST", "/api/staff/broadcasts", body, token=STAFF_TOKEN)
    assert status == 202, answer
    broadcast_id: str = answer["id"]
    return broadcast_id


def kill_mid_broadcast(deployment: Deployment, broadcast_id: str, part: str) -> int:
    """SIGKILL ``part`` once the broadcast is under way (not done); its pid."""
    wait_for(lambda: deployment.progress(broadcast_id)["sent"] >= 50, 30, "the first sends", deployment.server.log)
    pid = deployment.children()[part]
    os.kill(pid, signal.SIGKILL)
    return pid


def assert_each_notified_once(deployment: Deployment, broadcast_id: str, serials: list[str]) -> None:
    log = deployment.server.log
    wait_for(lambda: deployment.progress(broadcast_id)["status"] == "done", 40, "the broadcast to finish", log)
    progress = deployment.progress(broadcast_id)
    assert (progress["total"], progress["sent"], progress["failed"]) == (RECIPIENTS, RECIPIENTS, 0), progress
    _, messages = deployment.svc.outbox.since("0-0", count=10 * RECIPIENTS)
    sent = Counter(m["to"] for m in messages if m["kind"] == "broadcast")
    assert set(sent) == {f"openid-{n}" for n in range(1, RECIPIENTS + 1)}
    assert max(sent.values()) == 1, "nobody notified twice"
    appointments = deployment.svc.store.many(serials)
    assert len(appointments) == RECIPIENTS, "no acknowledged booking lost"
    assert {a.status for a in appointments} == {rules.AppointmentStatus.booked}


def test_a_worker_killed_mid_broadcast_is_reaped_restarted_and_the_broadcast_finishes_once(
    deployment: Deployment,
) -> None:
    serials = book_everyone(deployment.svc)
    broadcast_id = start_broadcast(deployment)
    killed = kill_mid_broadcast(deployment, broadcast_id, "worker")
    log = deployment.server.log
    assert deployment.progress(broadcast_id)["sent"] < RECIPIENTS, "killed before the broadcast was done"
    wait_for(lambda: deployment.health() == 503, 5, "/healthz 503 while the worker is dead", log)
    wait_for(lambda: deployment.children().get("worker", killed) != killed, 15, "a new worker child", log)
    assert not any(k.endswith("zombie") for k in deployment.children()), "the dead worker was reaped"
    wait_for(lambda: deployment.health() == 200, 20, "/healthz 200 with the new worker", log)
    assert_each_notified_once(deployment, broadcast_id, serials)
    assert "worker died; restarting" in log.read_text()


def test_an_embedded_redis_killed_mid_broadcast_comes_back_with_every_booking(deployment: Deployment) -> None:
    serials = book_everyone(deployment.svc)
    broadcast_id = start_broadcast(deployment)
    killed = kill_mid_broadcast(deployment, broadcast_id, "redis")
    log = deployment.server.log
    wait_for(lambda: deployment.health() == 503, 5, "/healthz 503 while Redis is down", log)
    status, answer = deployment.server.call("GET", "/api/staff/appointments", token=STAFF_TOKEN)
    assert status == 503 and "error" in json.loads(answer), "503 JSON, never an HTML error page"
    wait_for(lambda: deployment.children().get("redis", killed) != killed, 15, "a new redis-server", log)
    wait_for(lambda: deployment.health() == 200, 30, "/healthz 200 after the restart", log)
    assert_each_notified_once(deployment, broadcast_id, serials)
    assert "redis died; restarting" in log.read_text()
    aof = list(deployment.data.rglob("*.aof"))
    assert aof and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in aof), "still private after restart"


def test_serve_exits_non_zero_when_its_redis_cannot_come_back(deployment: Deployment) -> None:
    log = deployment.server.log
    pid = deployment.children()["redis"]
    os.kill(pid, signal.SIGKILL)
    for aof in deployment.data.rglob("*.aof"):
        aof.write_bytes(b"this is not an append-only file\n")  # redis-server refuses to start on it
    assert deployment.server.process.wait(45) == 1, log.read_text()[-3000:]
    text = log.read_text()
    assert "giving up: redis died" in text
    assert not deployment.children(), "no child left behind"


def test_serve_on_a_busy_port_is_one_line_before_anything_is_touched(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "app", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is in use" in lines[0], done.stderr
    assert not (tmp_path / "data").exists(), "no Redis started, no demo slots loaded"


def test_serve_on_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--demo", "--host", "127.0.0.1", "--port", "99999"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and "99999" in done.stderr, done.stderr
