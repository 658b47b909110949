"""Broadcasts against a real Redis: selection, cancellation by the hospital, send-once, retries, rate, API, CLI."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

import rules
from app.cli import main
from app.web import create_app
from app.worker import run_worker
from bot.booking import BookingRefused
from bot.broadcasts import BroadcastProgress, Broadcasts, BroadcastStatus, InvalidBroadcastError
from bot.notifications.outbox import OutboundMessage, SendResult
from bot.records import Appointment
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, STAFF_TOKEN, Services, slot_of

VISIT = NOW.date() + timedelta(days=2)
DAY = VISIT.isoformat()
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
Status = rules.AppointmentStatus


def book(
    svc: Services, n: int, department: str = "nk", *, hospital: str = "h1", day: Any = VISIT, pm: bool = False
) -> Appointment:
    acct, patient = svc.patient(n)
    appointment = svc.booking.book(patient.pid, acct, "wechat", slot_of(hospital, department, day, pm))
    svc.notifier.remember_address(appointment, f"openid-{n}")
    return appointment


def broadcast_messages(svc: Services) -> list[dict[str, str]]:
    _, messages = svc.outbox.since("0-0", count=1_000_000)
    return [m for m in messages if m["kind"] in ("broadcast", "cancellation")]


def request(svc: Services, **fields: Any) -> Any:
    values = {"hospital": "h1", "date_text": DAY, "body": "张医生今日停诊", **fields}
    return svc.broadcasts.validate(**values)


def test_every_patient_booked_there_is_notified_once(svc: Services) -> None:
    chosen = [book(svc, n, ("nk", "wk", "ek")[n % 3], pm=n % 2 == 0) for n in range(1, 10)]
    book(svc, 20, day=VISIT + timedelta(days=1))  # another day
    book(svc, 21, hospital="h2")  # another hospital
    cancelled = book(svc, 22)
    svc.booking.cancel(cancelled.serial, "patient:wechat")  # no longer booked: not selected
    svc.patients.set_opt_out(svc.patients.get(chosen[0].pid).phone_hash, True)  # type: ignore[union-attr]
    svc.redis.delete(keys.appointment_notify(chosen[1].serial))  # no address: SMS to the patient's phone

    progress, new = svc.broadcasts.create(request(svc), "staff:desk")
    assert new and (progress.status, progress.total, progress.sent) == (BroadcastStatus.queued, 9, 0)
    final = svc.broadcasts.run(progress.id)
    assert final.to_json() == {"id": progress.id, "status": "done", "total": 9, "sent": 9, "failed": 0, "skipped": 0}
    messages = broadcast_messages(svc)
    assert Counter(m["to"] for m in messages) == Counter(
        ["+8613900000002"] + [f"openid-{n}" for n in range(1, 10) if n != 2]
    )
    assert all(m["kind"] == "broadcast" and "张医生今日停诊" in m["text"] for m in messages)
    assert "【第一医院】张医生今日停诊" in messages[0]["text"]  # the opted-out patient too: broadcasts are always sent
    assert svc.broadcasts.run(progress.id).sent == 9 and len(broadcast_messages(svc)) == 9  # again: nothing more
    assert all(svc.store.require(a.serial).status == Status.booked for a in chosen)


def test_department_and_doctor_narrow_the_selection(svc: Services) -> None:
    book(svc, 1, "nk")
    book(svc, 2, "nk", pm=True)
    book(svc, 3, "wk")
    assert svc.broadcasts.create(request(svc, department="nk"), "staff:desk")[0].total == 2
    assert svc.broadcasts.create(request(svc, department="nk", doctor="dr-nk-x"), "staff:desk")[0].total == 1
    assert svc.broadcasts.create(request(svc, doctor="dr-wk"), "staff:desk")[0].total == 1
    empty, _ = svc.broadcasts.create(request(svc, department="ek"), "staff:desk")
    assert (empty.total, empty.status) == (0, BroadcastStatus.done)


def test_cancel_by_the_hospital(svc: Services) -> None:
    chosen = [book(svc, n, "nk") for n in range(1, 6)]
    other = book(svc, 6, "wk")
    for appointment in chosen:
        svc.reminders.schedule(appointment)
    taken = int(svc.redis.hget(keys.slot(chosen[0].slot), "taken") or 0)

    progress, _ = svc.broadcasts.create(request(svc, department="nk", cancel=True), "staff:desk")
    final = svc.broadcasts.run(progress.id)
    assert (final.status, final.total, final.sent, final.failed) == (BroadcastStatus.done, 5, 5, 0)
    for appointment in chosen:
        after = svc.store.require(appointment.serial)
        assert after.status == Status.cancelled_by_hospital and after.refund_cents == appointment.fee_cents
        assert svc.redis.zcard(keys.patient_violations(appointment.pid)) == 0
        assert svc.standing.standing(appointment.pid).no_shows_this_year == 0
        assert svc.reminders.pending(appointment.serial) == {}
    assert svc.store.require(other.serial).status == Status.booked
    assert svc.schedule.slot(chosen[0].slot).status == "suspended"  # type: ignore[union-attr]
    assert svc.schedule.slot(slot_of("h1", "nk", VISIT, True)).status == "suspended"  # type: ignore[union-attr]
    assert svc.schedule.slot(other.slot).status == "open"  # type: ignore[union-attr]
    assert int(svc.redis.hget(keys.slot(chosen[0].slot), "taken") or 0) == taken  # not put back on sale
    acct, patient = svc.patient(7)
    with pytest.raises(BookingRefused) as refused:
        svc.booking.book(patient.pid, acct, "wechat", chosen[0].slot)
    assert refused.value.decision.rule == "slot_closed"
    messages = broadcast_messages(svc)
    assert len(messages) == 5 and all(m["kind"] == "cancellation" for m in messages)
    assert "已由医院取消" in messages[0]["text"] and "挂号费¥5可全额退" in messages[0]["text"]


def test_an_appointment_cancelled_meanwhile_is_skipped(svc: Services) -> None:
    first, second = book(svc, 1), book(svc, 2, "wk")
    progress, _ = svc.broadcasts.create(request(svc, cancel=True), "staff:desk")
    svc.booking.cancel(second.serial, "patient:wechat")
    final = svc.broadcasts.run(progress.id)
    assert (final.status, final.sent, final.skipped, final.total) == (BroadcastStatus.done, 1, 1, 2)
    assert svc.store.require(second.serial).status == Status.cancelled
    assert [m["to"] for m in broadcast_messages(svc)] == ["openid-1"]
    assert first.serial


def test_the_same_request_while_unfinished_is_the_same_broadcast(svc: Services) -> None:
    book(svc, 1)
    progress, new = svc.broadcasts.create(request(svc), "staff:desk")
    again, new_again = svc.broadcasts.create(request(svc), "staff:desk")
    assert new and not new_again and again.id == progress.id
    svc.broadcasts.run(progress.id)
    later, new_later = svc.broadcasts.create(request(svc), "staff:desk")  # finished: a new one
    assert new_later and later.id != progress.id


class Flaky:
    """A sender failing the first ``failures`` sends to each recipient."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries: Counter[str] = Counter()
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.tries[message.to] += 1
        if self.tries[message.to] <= self.failures:
            return SendResult(ok=False, error="http 503")
        self.sent.append(message)
        return SendResult(ok=True, provider_id="x")


def broadcasts_with(svc: Services, sender: Flaky, sleeps: list[float], **options: Any) -> Broadcasts:
    svc.notifier.senders["wechat"] = sender
    return Broadcasts(
        svc.redis, svc.store, svc.booking, svc.schedule, svc.notifier, svc.reminders, svc.clock,
        sleep=sleeps.append, **options,
    )  # fmt: skip


def test_failed_sends_are_retried_with_backoff(svc: Services) -> None:
    for n in range(1, 4):
        book(svc, n, ("nk", "wk", "ek")[n - 1])
    sleeps: list[float] = []
    sender = Flaky(failures=2)
    broadcasts = broadcasts_with(svc, sender, sleeps, retry_delays=(0.5, 2.0))
    progress, _ = broadcasts.create(request(svc), "staff:desk")
    final = broadcasts.run(progress.id)
    assert (final.status, final.sent, final.failed) == (BroadcastStatus.done, 3, 0)
    assert sleeps == [0.5, 2.0] and len(sender.sent) == 3


def test_sends_failing_every_retry_are_counted_failed(svc: Services) -> None:
    book(svc, 1)
    book(svc, 2, "wk")
    sleeps: list[float] = []
    broadcasts = broadcasts_with(svc, Flaky(failures=99), sleeps, retry_delays=(0.5,))
    progress, _ = broadcasts.create(request(svc), "staff:desk")
    final = broadcasts.run(progress.id)
    assert (final.status, final.sent, final.failed) == (BroadcastStatus.failed, 0, 2)
    assert not svc.redis.sismember(keys.BROADCASTS_ACTIVE, progress.id)


def test_a_rate_limited_channel_waits_for_tokens(svc: Services) -> None:
    for n in range(1, 61):
        book(svc, n, ("nk", "wk", "ek")[n % 3], pm=n % 2 == 0)
    sleeps: list[float] = []
    broadcasts = broadcasts_with(svc, Flaky(failures=0), sleeps, rates={"wechat": 20.0})
    progress, _ = broadcasts.create(request(svc), "staff:desk")
    assert broadcasts.run(progress.id).sent == 60
    # a bucket of 20 at 20/s: the first chunk of 50 waits for 30 tokens (1.5 s); the sleeps are not real here, so
    # the next 10 wait for the whole debt of 40 (2 s) — with real sleeps, 60 sends take (60 - 20) / 20 = 2 s
    assert sleeps == [pytest.approx(1.5, abs=0.05), pytest.approx(2.0, abs=0.05)]


# --- staff API -------------------------------------------------------------------------------------------
@pytest.fixture
def http(svc: Services) -> FlaskClient:
    return create_app(svc).test_client()


def test_api_queues_a_broadcast_for_the_worker(svc: Services, http: FlaskClient) -> None:
    for n in range(1, 4):
        book(svc, n, ("nk", "wk", "ek")[n - 1])
    body = {"hospital": "h1", "department": "wk", "date": DAY, "text": "外科停诊", "cancel": True}
    answer = http.post("/api/staff/broadcasts", json=body, headers=AUTH)
    assert answer.status_code == 202
    broadcast_id = answer.get_json()["id"]
    queued = http.get(f"/api/staff/broadcasts/{broadcast_id}", headers=AUTH).get_json()
    assert queued == {"id": broadcast_id, "status": "queued", "total": 1, "sent": 0, "failed": 0, "skipped": 0}
    run_worker(svc, burst=True)
    done = http.get(f"/api/staff/broadcasts/{broadcast_id}", headers=AUTH).get_json()
    assert done == {"id": broadcast_id, "status": "done", "total": 1, "sent": 1, "failed": 0, "skipped": 0}
    assert [m["to"] for m in broadcast_messages(svc)] == ["openid-2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"hospital": "h9", "date": DAY, "text": "x"}, "hospital: unknown hospital 'h9'"),
        ({"hospital": "h1", "department": "zz", "date": DAY, "text": "x"}, "department: h1 has no department 'zz'"),
        ({"hospital": "h1", "date": "25/11/2026", "text": "x"}, "date: expected YYYY-MM-DD, got '25/11/2026'"),
        ({"hospital": "h1", "date": "2026-02-30", "text": "x"}, "date: no such date '2026-02-30'"),
        ({"hospital": "h1", "date": DAY, "text": "  "}, "text: empty; say what the patients must know"),
        ({"hospital": "h1", "date": DAY}, "text: empty; say what the patients must know"),
        ({"hospital": "h1", "date": DAY, "text": "x", "cancel": "yes"}, "cancel: expected true or false, got 'yes'"),
        ({"hospital": "h1", "date": DAY, "text": "x", "doctor": 3}, "doctor: expected a doctor id, got 3"),
        (["h1"], "expected a JSON object body"),
    ],
)
def test_api_refuses_a_bad_request_with_the_reason(http: FlaskClient, body: Any, reason: str) -> None:
    answer = http.post("/api/staff/broadcasts", json=body, headers=AUTH)
    assert answer.status_code == 400 and answer.get_json() == {"error": reason}


def test_api_needs_a_token_and_a_known_id(http: FlaskClient) -> None:
    assert http.post("/api/staff/broadcasts", json={}).status_code == 401
    assert http.get("/api/staff/broadcasts/nope").status_code == 401
    assert http.get("/api/staff/broadcasts/nope", headers=AUTH).status_code == 404
    assert http.post("/api/staff/broadcasts", data="{", headers=AUTH).status_code == 400


def test_validation_errors_are_guahao_errors(svc: Services) -> None:
    with pytest.raises(InvalidBroadcastError):
        svc.broadcasts.validate("h1", DAY, "")


def test_every_bad_field_of_a_request_is_named_on_one_line(svc: Services) -> None:
    with pytest.raises(InvalidBroadcastError) as caught:
        svc.broadcasts.validate("h1", "2026-02-30", "  ", department="zz", doctor=3, cancel="yes")
    assert str(caught.value) == (
        "department: h1 has no department 'zz'; doctor: expected a doctor id, got 3; "
        "date: no such date '2026-02-30'; text: empty; say what the patients must know; "
        "cancel: expected true or false, got 'yes'"
    )


def test_a_good_request_is_stripped_and_typed(svc: Services) -> None:
    wanted = svc.broadcasts.validate(" h1 ", f" {DAY} ", " 停诊 ", department=" nk ", doctor=" ", cancel=True)
    assert (wanted.hospital, wanted.date, wanted.text, wanted.department, wanted.doctor, wanted.cancel) == (
        "h1",
        DAY,
        "停诊",
        "nk",
        None,
        True,
    )


# --- CLI -------------------------------------------------------------------------------------------------
def cli_config(tmp_path: Path, server: EmbeddedRedis) -> Path:
    from tests.test_worker import config_toml

    path = tmp_path / "config.toml"
    path.write_text(config_toml(server.url, simulator=False))
    return path


def test_cli_broadcast_runs_with_a_progress_bar(
    svc: Services, redis_server: EmbeddedRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(1, 6):
        book(svc, n, ("nk", "wk", "ek")[n % 3], pm=n % 2 == 0)
    config = cli_config(tmp_path, redis_server)
    args = ["broadcast", "--config", str(config), "--hospital", "h1", "--date", DAY, "--text", "停水通知"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "notify 5 appointment(s)" in out
    assert out.strip().splitlines()[-1].endswith("done: 5 sent, 0 failed, 0 skipped (no longer booked) of 5")
    assert "[##############################] 5/5" in err
    assert len(broadcast_messages(svc)) == 5
    assert main([*args, "--hospital", "h9"]) == 1  # the last one counts
    assert capsys.readouterr().err == "guahao: error: hospital: unknown hospital 'h9'\n"


def test_cli_resumes_an_unfinished_broadcast(
    svc: Services, redis_server: EmbeddedRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(1, 4):
        book(svc, n, ("nk", "wk", "ek")[n - 1])
    one_at_a_time = Broadcasts(
        svc.redis, svc.store, svc.booking, svc.schedule, svc.notifier, svc.reminders, svc.clock, batch_size=1
    )
    progress, _ = one_at_a_time.create(request(svc, body="停水通知"), "staff:cli")
    one_at_a_time.run_batch(progress.id, 0)
    assert svc.broadcasts.get(progress.id).sent == 1  # then the CLI was killed
    config = cli_config(tmp_path, redis_server)
    args = ["broadcast", "--config", str(config), "--hospital", "h1", "--date", DAY, "--text", "停水通知"]
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert f"broadcast {progress.id}: notify 3 appointment(s) (resuming)" in out
    assert len(broadcast_messages(svc)) == 3 and svc.broadcasts.get(progress.id).sent == 3


def test_progress_json_shape() -> None:
    progress = BroadcastProgress("b1", BroadcastStatus.running, 10, 4, 1, 0, False)
    assert (progress.processed, progress.finished) == (5, False)
