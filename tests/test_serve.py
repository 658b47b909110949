"""`guahao serve --demo` as a person runs it: a real process, the simulator API over HTTP, a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from app.services import build_services
from app.web import create_app
from bot.storage.runtime import EmbeddedRedis
from tests.support import SHANGHAI, id_number, make_config

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``guahao serve`` and how to talk to it."""

    process: subprocess.Popen[str]
    base: str
    log: Path

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
                return response.status, json.loads(raw) if "json" in kind else raw.decode()
        except urllib.error.HTTPError as failed:
            return failed.code, failed.read().decode()

    def say(self, channel: str, user: str, text: str) -> str:
        status, answer = self.call("POST", "/simulator/send", {"channel": channel, "user": user, "text": text})
        assert status == 200, answer
        return "\n\n".join(answer["replies"])

    def outbox(self, to: str) -> list[dict[str, str]]:
        status, answer = self.call("GET", f"/simulator/outbox?to={urllib.request.quote(to)}")
        assert status == 200, answer
        messages: list[dict[str, str]] = answer["messages"]
        return messages


def wait_healthy(base: str, process: subprocess.Popen[str], seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        assert process.poll() is None, "guahao serve exited early"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz did not answer 200 within {seconds} s")


def start(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, Path]:
    port = free_port()
    log = cwd / "serve.log"
    process = subprocess.Popen(
        [*command, "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # our own process group: stopped by its PID below, nothing else touched
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}", log


def stop(process: subprocess.Popen[str], seconds: float = 30) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(seconds)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("serve")
    process, base, log = start([sys.executable, "-m", "app"], cwd)
    try:
        wait_healthy(base, process, 30)
        yield Server(process, base, log)
    finally:
        if process.poll() is None:
            stop(process)


def up_to_the_confirmation(server: Server, openid: str, phone: str, patient: int) -> None:
    """Verify a WeChat user (the SMS code read from the outbox) and choose tomorrow's first slot of 心内, up to the
    booking's ``Y``."""
    assert "请输入就诊人姓名" in server.say("wechat", openid, "1")
    server.say("wechat", openid, "王小明")
    server.say("wechat", openid, id_number(patient))
    assert "验证码已发送" in server.say("wechat", openid, phone)
    [otp] = [m for m in server.outbox(phone) if m["kind"] == "otp"]
    code = re.search(r"\d{6}", otp["text"]).group()  # type: ignore[union-attr]
    assert otp["to"] == f"+86{phone}"
    server.say("wechat", openid, code)
    server.say("wechat", openid, "1")  # hospital
    server.say("wechat", openid, "心内")  # department, by part of its name
    server.say("wechat", openid, "1")  # the first date offered: tomorrow
    server.say("wechat", openid, "1")  # the first slot: 08:00


def morning_of_today(server: Server) -> datetime:
    """Set the simulated clock to 08:30 of its current day (whatever the real time of day: booked after 19:00,
    the day-before reminder would be past); that moment."""
    status, info = server.call("GET", "/simulator/clock")
    assert status == 200, info
    today = datetime.fromisoformat(info["now"]).astimezone(SHANGHAI).date()
    status, moved = server.call("POST", "/simulator/clock", {"set": f"{today}T08:30:00+08:00"})
    assert status == 200, moved
    return datetime.fromisoformat(moved["now"])


def test_a_whole_appointment_life_through_the_simulator_api(server: Server) -> None:
    status, info = server.call("GET", "/simulator/info")
    assert status == 200 and len(info["hospitals"]) == 2 and info["staff_token"]
    now = morning_of_today(server)

    # verify and book over WeChat; the SMS code is read from the outbox
    openid, phone = "o-serve-test", "13912340001"
    up_to_the_confirmation(server, openid, phone, 501)
    done = server.say("wechat", openid, "Y")
    serial = re.search(r"识别码[::]?\s*(\d{8})", done)
    assert serial, done
    assert f"{server.base}/calendar/" in done, "--demo points the calendar links at the server itself"

    # the evening before: the clock moves and the reminders that fell due are sent before the answer
    tomorrow = (now + timedelta(days=1)).date()
    status, moved = server.call("POST", "/simulator/clock", {"set": f"{tomorrow - timedelta(days=1)}T19:00:00+08:00"})
    assert status == 200 and moved["now"].startswith(f"{tomorrow - timedelta(days=1)}T19:00")
    kinds = [m["kind"] for m in server.outbox(openid)]
    assert "confirmation" in kinds and "reminder" in kinds, kinds  # the worker sends both; their order may vary

    # the visit passes unattended: the no-show sweep records it
    status, _ = server.call("POST", "/simulator/clock", {"set": f"{tomorrow}T12:30:00+08:00"})
    assert status == 200
    token = info["staff_token"]
    status, standing = server.call("GET", f"/api/staff/patients/{serial.group(1)}/standing", token=token)
    assert status == 200 and standing["no_shows_this_year"] == 1, standing
    status, listing = server.call("GET", f"/api/staff/appointments?date={tomorrow}", token=token)
    assert [a["status"] for a in listing["appointments"] if a["serial"] == serial.group(1)] == ["no_show"]


def serve_worker(server: Server) -> tuple[int, redis.Redis]:
    """The PID of the worker child of ``guahao serve`` and a client of the embedded Redis it was handed."""
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"worker" in argv:
                env = dict(e.split(b"=", 1) for e in Path(f"/proc/{child}/environ").read_bytes().split(b"\0") if e)
                return int(child), redis.Redis.from_url(env[b"GUAHAO_REDIS_URL"].decode())
    raise AssertionError("guahao serve has no worker child")


def stopped_while_waiting_for_a_job(worker: int, client: redis.Redis) -> bool:
    """SIGSTOP the worker while its dequeue (BLMOVE, a few seconds long) is blocked in Redis and fresh: Redis then
    hands the next job queued to the stopped worker, which holds it until SIGCONT. False (and running again) when
    it was not waiting just then."""
    os.kill(worker, signal.SIGSTOP)
    if any(c["cmd"] == "blmove" and int(c["idle"]) <= 1 for c in client.client_list()):
        return True
    os.kill(worker, signal.SIGCONT)
    return False


def booked_with_the_confirmation_held(server: Server, worker: int, client: redis.Redis, n: int) -> str | None:
    """Book for a new WeChat user with the serve worker stopped while it waits for a job, so that it takes the
    booking's confirmation and holds it; the user's openid, the worker left stopped. None, the worker running
    again, when its dequeue timed out just before the booking (the confirmation then waits in the queue)."""
    openid = f"o-serve-held-{n}"
    up_to_the_confirmation(server, openid, f"1391234010{n}", 510 + n)
    deadline = time.monotonic() + 30
    while not stopped_while_waiting_for_a_job(worker, client):
        assert time.monotonic() < deadline, "the serve worker never waited for a job"
        time.sleep(0.05)
    held = False
    try:
        serial = re.search(r"识别码[::]?\s*(\d{8})", server.say("wechat", openid, "Y"))
        assert serial
        # the job of the confirmations waiting (this booking's among them: bot.reminders)
        held = any(j.startswith(b"confirmations-") for j in client.lrange("rq:queue:guahao:intermediate", 0, -1))
    finally:
        if not held:
            os.kill(worker, signal.SIGCONT)
    return openid if held else None


def test_moving_the_clock_waits_for_the_job_the_serve_worker_holds(server: Server) -> None:
    """The serve worker is blocked on the queue beside the simulator's burst run and takes jobs first (a
    confirmation queued a moment before, or the reminder the burst's own tick dispatched): the clock's answer waits
    until it has run them, or a tester reads an outbox that lacks them (the flake of the whole-life test above).
    Here the serve worker is stopped (SIGSTOP) holding the confirmation while the clock moves."""
    worker, client = serve_worker(server)
    morning = morning_of_today(server)
    openid = next(filter(None, (booked_with_the_confirmation_held(server, worker, client, n) for n in range(5))), None)
    assert openid, "the stopped worker never held the confirmation"
    answers: list[tuple[int, Any]] = []
    evening = {"set": f"{morning.date()}T19:00:00+08:00"}
    mover = threading.Thread(target=lambda: answers.append(server.call("POST", "/simulator/clock", evening)))
    mover.start()
    try:
        mover.join(2.0)  # the burst run works the queue, then waits for the job the stopped worker holds
    finally:
        os.kill(worker, signal.SIGCONT)
    mover.join(60)
    assert answers and answers[0][0] == 200, answers
    kinds = [m["kind"] for m in server.outbox(openid)]
    assert "confirmation" in kinds and "reminder" in kinds, kinds


def test_metrics_and_the_page(server: Server) -> None:
    status, text = server.call("GET", "/metrics")
    assert status == 200
    assert re.search(r'guahao_messages_in_total\{channel="wechat"\} [1-9]', text), text[:2000]
    assert "guahao_webhook_latency_seconds_bucket" in text
    status, page = server.call("GET", "/")
    assert status == 200 and "simulator.js" in page
    status, _ = server.call("GET", "/static/simulator.js")
    assert status == 200


def test_the_data_dir_aof_and_secret_key_of_a_real_start_are_private(server: Server) -> None:
    data = server.log.parent / "data"
    assert server.say("wechat", "o-private", "菜单")  # a write that reaches the append-only file
    time.sleep(1.2)  # appendfsync everysec
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    private = [*data.rglob("*.aof"), data / "secret.key"]
    found = {p.name: stat.S_IMODE(p.stat().st_mode) for p in private}
    assert all(mode == 0o600 for mode in found.values()), found


def test_bad_simulator_requests_are_answered_400(server: Server) -> None:
    assert server.call("POST", "/simulator/send", {"channel": "fax", "user": "x", "text": "1"})[0] == 400
    assert server.call("POST", "/simulator/send", {"channel": "sms", "user": "not-a-phone", "text": "1"})[0] == 400
    assert server.call("POST", "/simulator/clock", {"advance_minutes": -5})[0] == 400
    assert server.call("POST", "/simulator/clock", {"set": "tomorrow"})[0] == 400
    assert server.call("POST", "/simulator/clock", [1, 2])[0] == 400


def test_the_simulator_is_404_when_off(redis_db: redis.Redis) -> None:
    services = build_services(make_config(), redis_db)
    assert not services.config.server.simulator
    client = create_app(services).test_client()
    for method, path in (("get", "/"), ("get", "/simulator/info"), ("post", "/simulator/send"),
                         ("get", "/simulator/outbox?to=x"), ("post", "/simulator/clock")):  # fmt: skip
        assert getattr(client, method)(path).status_code == 404, path


def test_serve_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    process, base, log = start([sys.executable, "-m", "app"], tmp_path)
    wait_healthy(base, process, 30)
    took = stop(process)
    assert process.returncode == 0, log.read_text()[-2000:]
    assert took < 20
    assert (tmp_path / "data" / "appendonly.aof").exists() or any((tmp_path / "data").rglob("*.aof"))
    assert not (tmp_path / "data" / "embedded-redis.json").exists(), "the embedded Redis was stopped"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"at", "level", "event"} <= set(line) for line in lines), "structured one-line logs"

    def slots() -> int:
        server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
        try:
            return sum(1 for _ in server.client().scan_iter("gh:slot:*|*|*|*|??:??"))
        finally:
            server.stop()

    first = slots()
    assert first > 100
    process, base, log = start([sys.executable, "-m", "app"], tmp_path)  # the demo again, on the same data
    wait_healthy(base, process, 30)
    stop(process)
    assert slots() == first, "running the demo again duplicates nothing"


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="installs the package in a fresh venv: CI only")
def test_the_readme_quick_start_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python3"), "-m", "pip", "install", "-q", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    workdir = tmp_path / "work"
    workdir.mkdir()
    process, base, log = start([str(venv / "bin" / "guahao")], workdir)
    try:
        seconds = wait_healthy(base, process, 30)
        assert seconds < 30
    finally:
        stop(process)
    assert process.returncode == 0, log.read_text()[-2000:]
