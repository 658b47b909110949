"""The worker as a real process: ``guahao worker`` stops gracefully on SIGTERM; a broadcast to 1,000 patients
survives a warm shutdown and a SIGKILL in the middle, and every patient is notified exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient

import rules
from app.web import create_app
from app.worker import run_worker
from bot.broadcasts import BroadcastStatus
from bot.clock import RedisClock
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, SECRET, STAFF_TOKEN, Services, make_services, schedule_csv, slot_of

ROOT = Path(__file__).resolve().parent.parent
VISIT = NOW.date() + timedelta(days=2)
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
RECIPIENTS = 1_000
SLOTS = [slot_of("h1", d, VISIT, pm) for d in ("nk", "wk", "ek") for pm in (False, True)]


def config_toml(url: str, *, simulator: bool = True) -> str:
    """The test configuration (``tests.support.CONFIG_RAW``) as a file, on the test's Redis."""
    return f"""
[server]
simulator = {"true" if simulator else "false"}
[redis]
url = "{url}"
[security]
secret_key = "{SECRET}"
staff_tokens = [{{ name = "desk", token = "{STAFF_TOKEN}" }}]

[[hospitals]]
id = "h1"
name = "第一医院"
address = "北京市西城区1号"
[[hospitals.departments]]
id = "nk"
name = "内科"
[[hospitals.departments]]
id = "wk"
name = "外科"
[[hospitals.departments]]
id = "ek"
name = "儿科"

[[hospitals]]
id = "h2"
name = "第二医院"
[hospitals.policy]
cancel_deadline = "14:00"
[[hospitals.departments]]
id = "nk"
name = "内科"
"""


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        # a session of its own: the worker's scheduler child, orphaned when the worker is SIGKILLed, goes with it
        child = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=sink, stderr=sink, start_new_session=True)
        try:
            yield child
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text()[-3000:]}" if log else ""))


def test_guahao_worker_sends_and_stops_on_sigterm(
    redis_db: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    clock = RedisClock(redis_db)
    clock.set(NOW)
    svc = make_services(redis_db, clock=clock)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    acct, patient = svc.patient(1)
    appointment = svc.booking.book(patient.pid, acct, "wechat", SLOTS[0])
    svc.reminders.on_booked(appointment, "openid-1")
    config = tmp_path / "config.toml"
    config.write_text(config_toml(redis_server.url))
    log = tmp_path / "worker.log"
    with process(["-m", "app", "worker", "--config", str(config)], log) as worker:
        wait_for(lambda: len(svc.outbox.messages_for("openid-1")) == 1, 30, "the confirmation", log)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log.read_text()[-3000:]
    assert svc.outbox.messages_for("openid-1")[0]["kind"] == "confirmation"
    assert "warm shut down requested" in log.read_text()


# --- the broadcast that survives its workers -------------------------------------------------------------
def book_everyone(svc: Services) -> list[str]:
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1), days=3, capacity=200, hospitals=("h1",)))
    serials = []
    for n in range(1, RECIPIENTS + 1):
        acct, patient = svc.patient(n)
        appointment = svc.booking.book(patient.pid, acct, "wechat", SLOTS[n % len(SLOTS)])
        svc.notifier.remember_address(appointment, f"openid-{n}")
        serials.append(appointment.serial)
    return serials


def progress(http: FlaskClient, broadcast_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = http.get(f"/api/staff/broadcasts/{broadcast_id}", headers=AUTH).get_json()
    return answer


def test_broadcast_to_1000_survives_sigterm_and_sigkill(
    redis_db: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    clock = RedisClock(redis_db)
    clock.set(NOW)
    svc = make_services(redis_db, clock=clock)
    serials = book_everyone(svc)
    http = create_app(svc).test_client()
    body = {"hospital": "h1", "date": VISIT.isoformat(), "text": "因故停诊", "cancel": True}
    answer = http.post("/api/staff/broadcasts", json=body, headers=AUTH)
    assert answer.status_code == 202
    broadcast_id = answer.get_json()["id"]
    assert progress(http, broadcast_id)["total"] == RECIPIENTS

    config = tmp_path / "config.toml"
    config.write_text(config_toml(redis_server.url))
    # 100 sends a second (a bucket of 100): after the first 100 sends of a batch of 500, four more seconds - the
    # window in which the test must stop its worker, wide enough on a loaded machine (at 250 a second it was ~1.4 s)
    knobs = '{"periodic": 0.3, "stale_after": 2, "rates": {"wechat": 100}}'
    launcher = ["-m", "tests.worker_process", str(config), knobs]
    log = tmp_path / "workers.log"

    def sent() -> int:
        return int(progress(http, broadcast_id)["sent"])

    def told(what: str) -> str:  # what a failure shows: the counts and the workers' own account
        return f"{what}: {progress(http, broadcast_id)}\n{log.read_text()[-3000:]}"

    # 1. SIGTERM in the middle of the first batch: the worker finishes that batch, then exits
    with process(launcher, log) as first:
        wait_for(lambda: sent() >= 100, 30, "the first sends", log)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert sent() == 500, told("the batch in hand was finished, the next one left queued")

    # 2. SIGKILL in the middle of the second batch
    with process(launcher, log) as second:
        wait_for(lambda: sent() >= 600, 30, "sends of the second batch", log)
        os.kill(second.pid, signal.SIGKILL)
        second.wait()
    at_kill = sent()
    assert 600 <= at_kill < RECIPIENTS, told("killed mid-batch")
    assert progress(http, broadcast_id)["status"] == "running", told("still running")

    # 3. a new worker sees the broadcast abandoned and finishes it
    with process(launcher, log) as third:
        wait_for(lambda: progress(http, broadcast_id)["status"] == "done", 60, "the broadcast to finish", log)
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert progress(http, broadcast_id) == {
        "id": broadcast_id,
        "status": BroadcastStatus.done.value,
        "total": RECIPIENTS,
        "sent": RECIPIENTS,
        "failed": 0,
        "skipped": 0,
    }
    _, messages = svc.outbox.since("0-0", count=10 * RECIPIENTS)
    assert len(messages) == RECIPIENTS and {m["kind"] for m in messages} == {"cancellation"}
    per_recipient = Counter(m["to"] for m in messages)
    assert set(per_recipient) == {f"openid-{n}" for n in range(1, RECIPIENTS + 1)}
    assert max(per_recipient.values()) == 1, "nobody notified twice"
    for appointment in svc.store.many(serials):
        assert appointment.status == rules.AppointmentStatus.cancelled_by_hospital
        assert appointment.refund_cents == appointment.fee_cents
    pipe = redis_db.pipeline(transaction=False)
    for appointment in svc.store.many(serials):
        pipe.zcard(keys.patient_violations(appointment.pid))
    assert sum(pipe.execute()) == 0, "no patient gains a violation"
    assert int(redis_db.hget(keys.broadcast(broadcast_id), "resumes") or 0) >= 1


def test_burst_worker_runs_from_another_thread(redis_db: redis.Redis) -> None:
    """The simulator drains the due jobs from its request thread: no signal handlers there."""
    svc = make_services(redis_db)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    acct, patient = svc.patient(1)
    appointment = svc.booking.book(patient.pid, acct, "wechat", SLOTS[0])  # an SMS booking's reply was its confirmation
    svc.reminders.on_booked(appointment, "openid-thread")
    failures: list[BaseException] = []

    def drain() -> None:
        try:
            run_worker(svc, burst=True)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=drain)
    thread.start()
    thread.join(timeout=30)
    assert not failures and [m["kind"] for m in svc.outbox.messages_for("openid-thread")] == ["confirmation"]
