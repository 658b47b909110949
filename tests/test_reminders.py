"""Reminders against a real Redis and a real RQ worker (burst, in-process), the clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

import rules
from adapters.console.sender import AtomicConsoleSender, ConsoleSender
from app.worker import run_worker
from bot.audit import read_audit
from bot.clock import ManualClock
from bot.config import build_config
from bot.jobs import run_periodic, send_reminder
from bot.notifications.outbox import OutboundMessage, OutboxKind, SendLedger, SendResult
from bot.patients import Field, account_id, phone_hash
from bot.records import Appointment
from bot.release import release_days
from bot.reminders import CLAIM_LEASE, ReminderDue, Reminders
from bot.storage import keys
from tests.support import CONFIG_RAW, NOW, SHANGHAI, Services, make_config, make_services, schedule_csv, slot_of
from tests.wechat_standin import APP_ID, APP_SECRET, WeChatStandin, running_standin

VISIT = NOW.date() + timedelta(days=2)  # Wednesday 25 November, 08:00-12:00 at h1 内科
WINDOW_END = datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI)  # 2 h before the 15:00 deadline of the day before
DAY_BEFORE = datetime(2026, 11, 24, 18, 0, tzinfo=SHANGHAI)
BEFORE_START = datetime(2026, 11, 25, 6, 0, tzinfo=SHANGHAI)  # 2 h before 08:00


def book(svc: Services, n: int, channel: str = "wechat", day: Any = VISIT, department: str = "nk") -> Appointment:
    acct, patient = svc.patient(n, channel, None if channel == "wechat" else f"139{n:08d}")
    appointment = svc.booking.book(patient.pid, acct, channel, slot_of("h1", department, day))
    svc.reminders.on_booked(appointment, f"openid-{n}" if channel == "wechat" else f"139{n:08d}")
    return appointment


def tick(svc: Services) -> None:
    """What the simulator does after moving the clock: the periodic duties, then the queue drained."""
    run_periodic(svc)
    run_worker(svc, burst=True)


def advance_to(svc: Services, clock: ManualClock, moment: datetime) -> None:
    clock.set(moment)
    tick(svc)


def kinds(svc: Services, to: str) -> list[str]:
    return [m["kind"] for m in svc.outbox.messages_for(to)]


def test_confirmation_then_each_reminder_at_its_moment(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 1)
    assert set(svc.reminders.pending(appointment.serial)) == {"window_end", "day_before", "before_start"}
    tick(svc)
    [confirmation] = svc.outbox.messages_for("openid-1")
    assert confirmation["kind"] == "confirmation" and confirmation["channel"] == "wechat"
    for part in (appointment.serial, "11月25日 周三 08:00", "就诊序号 1", "第一医院", "11月24日 周二 15:00"):
        assert part in confirmation["text"]

    expected = ["confirmation"]
    for moment, words in ((WINDOW_END, "截止免费取消"), (DAY_BEFORE, "明天"), (BEFORE_START, "今天")):
        advance_to(svc, clock, moment - timedelta(minutes=1))
        assert kinds(svc, "openid-1") == expected, f"nothing before {moment}"
        advance_to(svc, clock, moment)
        expected.append("reminder")
        messages = svc.outbox.messages_for("openid-1")
        assert [m["kind"] for m in messages] == expected
        assert words in messages[-1]["text"] and appointment.serial in messages[-1]["text"]
        assert messages[-1]["at"] == moment.isoformat()
    advance_to(svc, clock, BEFORE_START + timedelta(hours=1))
    assert kinds(svc, "openid-1") == expected  # nothing more, nothing twice
    assert svc.reminders.pending(appointment.serial) == {}
    assert svc.redis.zcard(keys.REMINDERS_CLAIMED) == 0


def test_sms_booking_is_reminded_by_sms(svc: Services, clock: ManualClock) -> None:
    book(svc, 2, channel="sms")
    advance_to(svc, clock, WINDOW_END)
    advance_to(svc, clock, DAY_BEFORE)
    messages = svc.outbox.messages_for("+8613900000002")
    # the confirmation was the booking's reply: only the reminders are pushed
    assert [(m["channel"], m["kind"]) for m in messages] == [("sms", "reminder")] * 2


def test_a_jump_past_the_deadline_skips_the_cancel_reminder(svc: Services, clock: ManualClock) -> None:
    book(svc, 21)
    advance_to(svc, clock, DAY_BEFORE)  # "cancel before 15:00" at 18:00 would mislead: not sent
    messages = svc.outbox.messages_for("openid-21")
    assert [m["kind"] for m in messages] == ["confirmation", "reminder"] and "明天" in messages[-1]["text"]


def test_nothing_for_an_appointment_cancelled_before(svc: Services, clock: ManualClock) -> None:
    unscheduled = book(svc, 3)
    rechecked = book(svc, 4, department="wk")
    tick(svc)
    svc.booking.cancel(unscheduled.serial, "patient:wechat")
    svc.reminders.on_cancelled(unscheduled.serial)  # the hook drops the entries ...
    svc.booking.cancel(rechecked.serial, "patient:wechat")  # ... and without it the job re-checks the status
    assert svc.reminders.pending(unscheduled.serial) == {}
    for moment in (WINDOW_END, DAY_BEFORE, BEFORE_START):
        advance_to(svc, clock, moment)
    assert kinds(svc, "openid-3") == ["confirmation"]
    assert kinds(svc, "openid-4") == ["confirmation"]


def test_nothing_for_an_attended_or_no_show_appointment(svc: Services, clock: ManualClock) -> None:
    today = book(svc, 5, day=NOW.date() + timedelta(days=1))  # tomorrow 08:00
    tick(svc)
    advance_to(svc, clock, datetime(2026, 11, 24, 6, 0, tzinfo=SHANGHAI))  # the worker slept through Monday
    assert kinds(svc, "openid-5") == ["confirmation", "reminder"]  # only "today at 08:00": the others are stale
    svc.standing.checkin(today.serial, "staff:desk")
    advance_to(svc, clock, datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI))
    assert kinds(svc, "openid-5") == ["confirmation", "reminder"]


def test_opt_out_stops_reminders_but_not_the_confirmation(svc: Services, clock: ManualClock) -> None:
    _, patient = svc.patient(6)
    svc.patients.set_opt_out(patient.phone_hash, True)
    appointment = svc.booking.book(patient.pid, _acct(svc, 6), "wechat", slot_of("h1", "nk", VISIT))
    svc.reminders.on_booked(appointment, "openid-6")
    for moment in (WINDOW_END, DAY_BEFORE, BEFORE_START):
        advance_to(svc, clock, moment)
    assert kinds(svc, "openid-6") == ["confirmation"]


def test_opt_out_of_the_sms_number_booked_from(svc: Services, clock: ManualClock) -> None:
    book(svc, 7, channel="sms")
    tick(svc)
    svc.patients.set_opt_out(phone_hash(svc.box, "13900000007"), True)  # TD from that phone
    advance_to(svc, clock, DAY_BEFORE)
    assert kinds(svc, "13900000007") == []  # the confirmation was the booking's SMS reply
    svc.patients.set_opt_out(phone_hash(svc.box, "13900000007"), False)  # START
    advance_to(svc, clock, BEFORE_START)
    assert kinds(svc, "13900000007") == ["reminder"]


def _acct(svc: Services, n: int) -> str:
    return account_id(svc.box, "wechat", f"openid-{n}")


def test_a_moved_appointment_is_reminded_at_its_new_time(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 8)
    tick(svc)
    svc.redis.hset(keys.appointment(appointment.serial), mapping={"start": "10:00", "end": "11:00"})  # moved
    for moment in (WINDOW_END, DAY_BEFORE, BEFORE_START):
        advance_to(svc, clock, moment)
    assert len(kinds(svc, "openid-8")) == 3  # window_end and day_before are unchanged; the last one moved
    assert svc.reminders.pending(appointment.serial) == {"before_start": BEFORE_START.timestamp() + 2 * 3600}
    advance_to(svc, clock, BEFORE_START + timedelta(hours=2))
    messages = svc.outbox.messages_for("openid-8")
    assert len(messages) == 4 and "今天 10:00" in messages[-1]["text"]


def test_a_reminder_too_late_to_help_is_not_sent(svc: Services, clock: ManualClock) -> None:
    book(svc, 9)
    advance_to(svc, clock, BEFORE_START + timedelta(hours=3))  # the worker was down; the visit has begun
    assert kinds(svc, "openid-9") == ["confirmation"]


def test_a_retried_job_sends_nothing_twice(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 10)
    tick(svc)
    clock.set(WINDOW_END)
    due = ReminderDue(appointment.serial, "window_end", int(WINDOW_END.timestamp()))
    assert svc.reminders.send(due) == "sent"
    assert svc.reminders.send(due) == "sent"  # a retry: the send-once key holds
    assert kinds(svc, "openid-10") == ["confirmation", "reminder"]


def test_two_dispatchers_never_claim_the_same_entry(svc: Services, clock: ManualClock) -> None:
    for n in range(11, 16):
        book(svc, n)
    run_worker(svc, burst=True)
    clock.set(DAY_BEFORE)
    first, second = svc.reminders.dispatch_due(), svc.reminders.dispatch_due()
    assert (first, second) == (10, 0)  # window_end and day_before of five appointments, once
    run_worker(svc, burst=True)
    # the window_end ones, due at 13:00, say "cancel before 15:00": at 18:00 they are dropped, not sent
    assert all(kinds(svc, f"openid-{n}") == ["confirmation", "reminder"] for n in range(11, 16))


def test_a_claimed_reminder_is_one_typed_record_with_one_id(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 17)
    run_worker(svc, burst=True)
    clock.set(WINDOW_END)
    assert svc.reminders.dispatch_due() == 1
    (member,) = svc.redis.zrange(keys.REMINDERS_CLAIMED, 0, -1)
    claimed = ReminderDue.from_claim(member)
    assert claimed == ReminderDue(appointment.serial, "window_end", int(WINDOW_END.timestamp()))
    assert claimed.claim() == member.decode()
    assert svc.reminders.queue.job_ids == [claimed.id], "the job id is the reminder's id"
    run_worker(svc, burst=True)
    assert svc.redis.zcard(keys.REMINDERS_CLAIMED) == 0


def test_a_job_run_outside_a_guahao_worker_says_so(svc: Services) -> None:
    with pytest.raises(RuntimeError, match="guahao worker"):
        send_reminder("12345678", "window_end", 0)


def test_a_lapsed_claim_is_handed_out_again(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 16)
    run_worker(svc, burst=True)
    wall = ManualClock(datetime.now(UTC))
    reminders = Reminders(svc.redis, svc.store, svc.notifier, clock, wall=wall)
    clock.set(WINDOW_END)
    assert reminders.dispatch_due() == 1
    svc.reminders.queue.empty()  # the job is lost (say, Redis lost the queue); the claim remains
    assert reminders.dispatch_due() == 0
    wall.advance(CLAIM_LEASE + timedelta(seconds=1))
    assert reminders.dispatch_due() == 1
    run_worker(svc, burst=True)
    assert kinds(svc, "openid-16") == ["confirmation", "reminder"]
    assert svc.redis.zcard(keys.REMINDERS_CLAIMED) == 0
    again = ReminderDue(appointment.serial, "window_end", int(WINDOW_END.timestamp()))
    assert svc.reminders.send(again) == "sent"  # once
    assert kinds(svc, "openid-16") == ["confirmation", "reminder"]


# --- WeChat unreachable → SMS ----------------------------------------------------------------------------
@pytest.fixture
def standin() -> Iterator[WeChatStandin]:
    with running_standin() as state:
        yield state


def test_wechat_unreachable_falls_back_to_sms(
    redis_db: redis.Redis, clock: ManualClock, standin: WeChatStandin
) -> None:
    """The real WeChatSender (wired by build_services from [wechat]) against the stand-in answering 45015."""
    raw = dict(CONFIG_RAW)
    raw["wechat"] = {
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "token": "wechat-token",
        "api_base_url": standin.base_url,
        "reminder_template_id": "TEMPLATE-1",
    }
    svc = make_services(redis_db, build_config(raw), clock)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    standin.fail_next(45015)  # out of the 48-hour window
    appointment = book(svc, 17)
    tick(svc)
    assert svc.outbox.messages_for("openid-17") == []  # WeChat is not the console here
    [sms] = svc.outbox.messages_for("+8613900000017")
    assert (sms["channel"], sms["kind"]) == ("sms", "confirmation") and appointment.serial in sms["text"]
    advance_to(svc, clock, WINDOW_END)  # WeChat answers again: the reminder goes there as a template message
    sends = standin.calls("/cgi-bin/message/template/send")
    assert len(sends) == 2 and sends[-1].body is not None
    assert sends[-1].body["touser"] == "openid-17" and sends[-1].body["template_id"] == "TEMPLATE-1"
    assert "截止免费取消" in sends[-1].body["data"]["content"]["value"]
    assert len(svc.outbox.messages_for("+8613900000017")) == 1


def test_unreachable_without_a_phone_is_a_failed_send(redis_db: redis.Redis, clock: ManualClock) -> None:
    svc = make_services(redis_db, clock=clock)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))

    class Unreachable:
        def send(self, message: OutboundMessage) -> SendResult:
            return SendResult(ok=False, error="unreachable")

    svc.notifier.senders["wechat"] = Unreachable()
    appointment = book(svc, 18)
    svc.redis.hdel(keys.patient(appointment.pid), Field.PHONE_ENC)
    assert svc.reminders.send(ReminderDue(appointment.serial, "confirmation", 0)) == "undeliverable"


# --- the console sender ----------------------------------------------------------------------------------
def test_atomic_console_sender_agrees_with_outbox_and_ledger(svc: Services, clock: ManualClock) -> None:
    atomic = AtomicConsoleSender(svc.outbox, clock, SHANGHAI)
    plain = ConsoleSender(svc.outbox, SendLedger(svc.redis, svc.box))
    first = atomic.send(OutboundMessage("sms", "13900000099", OutboxKind.reminder, "一", idempotency_key="k1"))
    again = plain.send(OutboundMessage("sms", "+8613900000099", OutboxKind.reminder, "一", idempotency_key="k1"))
    assert first.ok and again.provider_id == first.provider_id
    plain.send(OutboundMessage("sms", "13900000099", OutboxKind.reminder, "二", idempotency_key="k2"))
    atomic.send(OutboundMessage("sms", "13900000099", OutboxKind.reminder, "二", idempotency_key="k2"))
    atomic.send(OutboundMessage("wechat", "o-1", OutboxKind.reply, "三"))
    atomic.send(OutboundMessage("wechat", "o-1", OutboxKind.reply, "三"))  # no key: every time
    assert [m["text"] for m in svc.outbox.messages_for("8613900000099")] == ["一", "二"]
    assert svc.outbox.messages_for("+8613900000099")[0] == {
        "channel": "sms",
        "to": "+8613900000099",
        "kind": "reminder",
        "text": "一",
        "at": NOW.isoformat(),
    }
    assert [m["text"] for m in svc.outbox.messages_for("o-1")] == ["三", "三"]


# --- the periodic duties ---------------------------------------------------------------------------------
def test_release_records_each_day_entering_the_window_once(redis_db: redis.Redis, clock: ManualClock) -> None:
    config = make_config()
    assert release_days(redis_db, config, clock) == 2 * 7  # tomorrow .. today+7, two hospitals
    assert release_days(redis_db, config, clock) == 0
    clock.set(datetime(2026, 11, 24, 7, 29, tzinfo=SHANGHAI))
    assert release_days(redis_db, config, clock) == 0  # 1 December opens at 07:30
    clock.set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    assert release_days(redis_db, config, clock) == 2
    released = [e for e in read_audit(redis_db) if e.action == "day_released"]
    assert released[-1].detail == "hospital=h2 date=2026-12-01 slots=0" and released[-1].actor == "system"


def test_periodic_tick_sweeps_no_shows(svc: Services, clock: ManualClock) -> None:
    appointment = book(svc, 19, day=NOW.date() + timedelta(days=1))
    clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI))
    assert run_periodic(svc).no_shows == 1
    assert svc.store.require(appointment.serial).status == rules.AppointmentStatus.no_show
    assert run_periodic(svc).no_shows == 0


def test_changshu_reminds_before_the_start_deadline(redis_db: redis.Redis, clock: ManualClock) -> None:
    raw = dict(CONFIG_RAW)
    raw["policy"] = {"preset": "changshu"}
    config = build_config(raw)
    svc = make_services(redis_db, replace(config), clock)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    appointment = book(svc, 20)
    tick(svc)
    assert "11月25日 周三 08:00 前取消" in svc.outbox.messages_for("openid-20")[0]["text"]
    assert set(svc.reminders.pending(appointment.serial)) == {"window_end", "day_before", "before_start"}
