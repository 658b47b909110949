"""Transcripts of 我的预约 and 取消预约, in Chinese and English, over WeChat and SMS, on a real Redis.

Appointments are set up with the booking service and the clock is moved; the conversation goes through the real
pipeline (engine, sessions, locks). NOW is Monday 2026-11-23 08:00 in Beijing; tomorrow's general slots start at
08:00 (fee ¥5), expert slots at 14:00 (fee ¥50). beijing-114 stops online cancellation at 15:00 the day before,
hospital h2 at 14:00.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime, timedelta

import pytest
import redis

import rules
from app.services import dialog_deps
from bot.audit import read_audit
from bot.patients import PatientView, account_id
from bot.records import Appointment
from dialogs.cancel import start_with_serial
from dialogs.message import Channel, Inbound
from dialogs.registry import all_dialogs
from dialogs.session import Session
from dialogs.turn import Turn
from tests.dialog_support import Chat
from tests.support import (
    NOW,
    SHANGHAI,
    Services,
    clock,
    id_number,
    make_config,
    make_services,
    phone_number,
    schedule_csv,
    slot_of,
)
from texts import manage

TOMORROW = NOW.date() + timedelta(days=1)
Status = rules.AppointmentStatus


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def book(svc: Services, acct: str, patient: PatientView, slot: str, channel: str = "wechat") -> Appointment:
    return svc.booking.book(patient.pid, acct, channel, slot)


def status(svc: Services, serial: str) -> Status:
    return svc.store.require(serial).status


def places_left(svc: Services, slot: str) -> int:
    found = svc.schedule.slot(slot)
    assert found is not None
    return found.places_left


def chat_of(svc: Services, n: int, *, english: bool = False) -> Chat:
    """The WeChat chat of the account ``svc.patient(n)`` created."""
    chat = Chat(svc, user=f"openid-{n}")
    if english:
        chat.send("English")
    return chat


# --- 我的预约 --------------------------------------------------------------------------------------------------


def test_listing_without_appointments_zh(svc: Services) -> None:
    svc.patient(1)
    reply = chat_of(svc, 1).send("2")
    assert "您目前没有待就诊的预约。" in reply
    assert "张*:本年度爽约0次" in reply
    assert "1. 预约挂号" in reply, "back at the menu"


def test_listing_without_appointments_en(svc: Services) -> None:
    svc.patient(1)
    reply = chat_of(svc, 1, english=True).send("2")
    assert "You have no upcoming appointments." in reply
    assert "Zhang*: 0 no-show(s) this year" in reply
    assert "1. Book an appointment" in reply


def test_listing_one_appointment_zh_and_en(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    chat = chat_of(svc, 1)
    reply = chat.send("我的预约")
    assert "您有1个待就诊预约:" in reply
    assert f"识别码{booked.serial} 张* 11月24日 周二 08:00-12:00\n第一医院 内科 dr-nk 第1号 已预约" in reply
    chat.send("English")
    reply = chat.send("2")
    assert "You have 1 upcoming appointment(s):" in reply
    assert f"Serial {booked.serial} Zhang* Tue 24 Nov 08:00-12:00\nDiyi Yiyuan Neike dr-nk No. 1 booked" in reply


def test_listing_covers_every_patient_of_the_account_soonest_first(svc: Services) -> None:
    acct, first = svc.patient(1)
    second = svc.patients.add_patient(acct, "wechat", "李四", id_number(5), phone_number(5))
    later = book(svc, acct, first, slot_of("h1", "wk", TOMORROW + timedelta(days=2), afternoon=True))
    sooner = book(svc, acct, second, slot_of("h2", "nk", TOMORROW))
    gone = book(svc, acct, first, slot_of("h1", "nk", TOMORROW + timedelta(days=3)))
    svc.booking.cancel(gone.serial, "patient:wechat")
    other_acct, other = svc.patient(2)
    book(svc, other_acct, other, slot_of("h1", "ek", TOMORROW))  # another account's: never shown

    reply = chat_of(svc, 1).send("2")
    assert "您有2个待就诊预约:" in reply
    assert reply.index(sooner.serial) < reply.index(later.serial)
    assert f"识别码{sooner.serial} 李* 11月24日 周二 08:00-12:00\n第二医院 内科 dr-nk 第1号 已预约" in reply
    assert f"识别码{later.serial} 张* 11月26日 周四 14:00-17:00\n第一医院 外科 dr-wk-x 第1号 已预约" in reply
    assert gone.serial not in reply, "cancelled appointments are not upcoming"
    assert "张*:本年度爽约0次\n李*:本年度爽约0次" in reply


def test_listing_leaves_out_past_visits(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    clock(svc).set(at(TOMORROW + timedelta(days=1), 9))
    assert booked.serial not in chat_of(svc, 1).send("2")


def miss(svc: Services, acct: str, patient: PatientView, visit: date) -> None:
    """Book a morning slot on ``visit`` two days before and let it pass unattended."""
    clock(svc).set(at(visit - timedelta(days=2), 9))
    book(svc, acct, patient, slot_of("h1", "nk", visit))
    clock(svc).set(at(visit, 12, 5))
    assert svc.standing.sweep_no_shows() == 1


def test_a_suspended_patient_sees_until_when(svc: Services) -> None:
    acct, patient = svc.patient(1)
    first = NOW.date() + timedelta(days=2)
    svc.schedule.import_csv(schedule_csv(first, days=40, hospitals=("h1",)))
    for i in range(3):
        miss(svc, acct, patient, first + timedelta(days=10 * i))  # Nov 25, Dec 5, Dec 15
    assert svc.standing.standing(patient.pid).suspended_until == date(2027, 3, 14)
    chat = chat_of(svc, 1)
    assert "张*:本年度爽约3次,因爽约暂停预约,2027年3月15日起可再预约" in chat.send("2")
    chat.send("English")
    expected = "Zhang*: 3 no-show(s) this year; booking suspended for no-shows, possible again from 15 Mar 2027"
    assert expected in chat.send("2")


# --- 取消预约: before the deadline -----------------------------------------------------------------------------


def test_cancel_the_only_appointment_states_the_refund_first_zh(svc: Services) -> None:
    acct, patient = svc.patient(1)
    slot = slot_of("h1", "nk", TOMORROW)
    booked = book(svc, acct, patient, slot)
    chat = chat_of(svc, 1)

    terms = chat.send("3")  # a single appointment: no question which
    assert f"取消预约{booked.serial}:张* 11月24日 周二 08:00 第一医院 内科" in terms
    assert "现在取消:按医院规则可退¥5。" in terms
    assert "回复 Y 确认取消, N 保留" in terms
    assert status(svc, booked.serial) == Status.booked, "nothing happens before the confirmation"
    assert "请回复 Y(是)或 N(否)" in chat.send("也许吧")
    assert places_left(svc, slot) == 19

    done = chat.send("Y")
    assert f"已取消预约{booked.serial}。按医院规则可退¥5。" in done
    assert "1. 预约挂号" in done
    cancelled = svc.store.require(booked.serial)
    assert cancelled.status == Status.cancelled and cancelled.refund_cents == 500
    assert places_left(svc, slot) == 20, "the place is returned"
    assert read_audit(svc.redis, serial=booked.serial)[-1].actor == "patient:wechat"
    assert "没有可取消的预约" in chat.send("3")


def test_answering_no_keeps_the_appointment_en(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    chat = chat_of(svc, 1, english=True)
    terms = chat.send("3")
    assert f"Cancel {booked.serial}: Zhang* Tue 24 Nov 08:00 Diyi Yiyuan Neike" in terms, "names in pinyin"
    assert "Cancel now: per rules, ¥5 refundable." in terms
    assert "Reply Y to cancel it, N to keep it" in terms
    assert '"maybe" is not an answer here: please reply Y (yes) or N (no).' in chat.send("maybe")
    reply = chat.send("n")
    assert f"Appointment {booked.serial} is kept." in reply and "1. Book an appointment" in reply
    assert status(svc, booked.serial) == Status.booked


def test_choose_among_several_by_number_or_serial(svc: Services) -> None:
    acct, first = svc.patient(1)
    second = svc.patients.add_patient(acct, "wechat", "李四", id_number(5), phone_number(5))
    a = book(svc, acct, first, slot_of("h1", "nk", TOMORROW))
    b = book(svc, acct, second, slot_of("h1", "wk", TOMORROW + timedelta(days=1)))
    chat = chat_of(svc, 1)

    question = chat.send("取消预约")
    assert "请选择要取消的预约(回复序号或8位识别码):" in question
    assert f"1. 11月24日 周二 08:00 内科 张* {a.serial}" in question
    assert f"2. 11月25日 周三 08:00 外科 李* {b.serial}" in question
    assert "没有找到“7”" in chat.send("7")
    assert f"取消预约{b.serial}:李*" in chat.send("2")
    assert "已保留" in chat.send("N")

    chat.send("3")
    assert f"取消预约{a.serial}:张*" in chat.send(a.serial)  # the 8-digit serial typed instead of a number
    assert "已取消预约" in chat.send("是")
    assert (status(svc, a.serial), status(svc, b.serial)) == (Status.cancelled, Status.booked)


def test_someone_elses_serial_is_not_found(svc: Services) -> None:
    acct, patient = svc.patient(1)
    mine = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    book(svc, acct, patient, slot_of("h1", "wk", TOMORROW + timedelta(days=1)))
    other_acct, other = svc.patient(2)
    theirs = book(svc, other_acct, other, slot_of("h1", "nk", TOMORROW))
    chat = chat_of(svc, 1)
    chat.send("3")
    reply = chat.send(theirs.serial)
    assert f"没有找到识别码为{theirs.serial}的预约" in reply and "李" not in reply
    assert "没有找到识别码为99999999的预约" in chat.send("取消 99999999")
    assert f"取消预约{mine.serial}" in chat.send(f"取消 {mine.serial}"), "still choosing after a wrong serial"
    assert status(svc, theirs.serial) == Status.booked


def test_an_appointment_already_cancelled_is_said_so(svc: Services) -> None:
    acct, patient = svc.patient(1)
    a = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    b = book(svc, acct, patient, slot_of("h1", "wk", TOMORROW + timedelta(days=1)))
    chat = chat_of(svc, 1, english=True)
    chat.send("3")
    svc.booking.cancel(a.serial, "patient:wechat")  # cancelled elsewhere meanwhile
    assert f"Appointment {a.serial} is cancelled; there is nothing to cancel." in chat.send(a.serial)
    assert f"Cancel {b.serial}" in chat.send(b.serial)
    svc.booking.cancel(b.serial, "patient:sms")  # again, while confirming
    reply = chat.send("y")
    assert f"Appointment {b.serial} is cancelled; there is nothing to cancel." in reply
    assert "1. Book an appointment" in reply


# --- after the deadline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hospital", "deadline", "zh_name"),
    [("h1", "15:00", "第一医院"), ("h2", "14:00", "第二医院")],
)
def test_after_the_deadline_cancelling_online_is_refused(
    svc: Services, hospital: str, deadline: str, zh_name: str
) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of(hospital, "nk", TOMORROW))
    hour, minute = map(int, deadline.split(":"))
    clock(svc).set(at(NOW.date(), hour, minute) - timedelta(minutes=1))
    chat = chat_of(svc, 1)
    assert "按医院规则可退¥5" in chat.send("3"), "one minute before the deadline: still free"
    chat.send("N")

    clock(svc).set(at(NOW.date(), hour, minute))
    reply = chat.send("3")
    assert f"预约{booked.serial}的取消截止时间为11月23日 周一 {deadline},已过,无法在线取消" in reply
    assert f"如不能就诊,请联系{zh_name}" in reply
    assert "回复 Y" not in reply and "1. 预约挂号" in reply
    chat.send("English")
    reply = chat.send("3")
    assert f"The cancellation deadline of appointment {booked.serial} was Mon 23 Nov {deadline}" in reply
    assert "If you cannot come, please contact" in reply
    assert status(svc, booked.serial) == Status.booked


def test_a_started_visit_cannot_be_cancelled(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    clock(svc).set(at(TOMORROW, 8, 30))
    assert f"预约{booked.serial}的就诊时间已开始,无法取消" in chat_of(svc, 1).send("3")


def test_the_deadline_passing_while_confirming_is_explained(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    clock(svc).set(at(NOW.date(), 14, 59))
    chat = chat_of(svc, 1)
    assert "按医院规则可退¥5" in chat.send("3")
    clock(svc).advance(timedelta(minutes=2))
    reply = chat.send("Y")
    assert "确认期间取消截止时间已过。" in reply
    assert "取消截止时间为11月23日 周一 15:00,已过,无法在线取消" in reply
    assert status(svc, booked.serial) == Status.booked


def test_late_cancel_allowed_with_a_violation(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, make_config(late_cancel="allow_with_violation"))
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    clock(svc).set(at(NOW.date(), 16))
    chat = chat_of(svc, 1)
    terms = chat.send("3")
    assert "已过取消截止时间11月23日 周一 15:00,现在取消将计1次爽约(违约);按医院规则可退¥5。" in terms
    assert "回复 Y 确认取消, N 保留" in terms
    done = chat.send("Y")
    assert f"已取消预约{booked.serial},已计1次爽约。按医院规则可退¥5。" in done
    assert status(svc, booked.serial) == Status.cancelled_late
    assert "张*:本年度爽约1次" in chat.send("2")


def test_late_cancel_with_a_violation_en(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, make_config(late_cancel="allow_with_violation"))
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    acct, patient = svc.patient(1)
    book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    clock(svc).set(at(NOW.date(), 16))
    terms = chat_of(svc, 1, english=True).send("3")
    assert "The deadline (Mon 23 Nov 15:00) has passed: cancelling now counts as one no-show" in terms


# --- refunds --------------------------------------------------------------------------------------------------


def test_expert_fee_within_24_hours_refunds_80_percent(svc: Services) -> None:
    acct, patient = svc.patient(1)
    slot = slot_of("h1", "nk", TOMORROW, afternoon=True)  # expert, ¥50, tomorrow 14:00
    booked = book(svc, acct, patient, slot)
    clock(svc).set(at(NOW.date(), 14, 30))  # 23.5 h before, still before the 15:00 deadline
    chat = chat_of(svc, 1)
    assert "现在取消:按医院规则可退¥40(专家号距就诊不足24小时扣20%)。" in chat.send("3")
    assert "按医院规则可退¥40(专家号距就诊不足24小时扣20%)。" in chat.send("Y")
    assert svc.store.require(booked.serial).refund_cents == 4000
    assert places_left(svc, slot) == 20


def test_expert_refund_en_and_restated_when_it_changes_while_confirming(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW, afternoon=True))
    clock(svc).set(at(NOW.date(), 13, 59))
    chat = chat_of(svc, 1, english=True)
    assert "per rules, ¥50 refundable" in chat.send("3")
    clock(svc).advance(timedelta(minutes=2))  # the 24-hour mark passes before the Y
    reply = chat.send("yes")
    assert "The terms changed meanwhile; please confirm again." in reply
    assert "per rules, ¥40 refundable (expert visit less than 24 h away: 20% deducted)" in reply
    assert status(svc, booked.serial) == Status.booked, "never applied unseen"
    assert "¥40 refundable" in chat.send("y")
    assert status(svc, booked.serial) == Status.cancelled


# --- SMS, across channels -------------------------------------------------------------------------------------


def test_sms_lists_and_cancels_what_was_booked_on_wechat(svc: Services) -> None:
    wechat = Chat(svc, user="openid-x")
    wechat.send("1")
    assert "手机号已验证;身份证号校验通过" in wechat.verify("王五", id_number(7), "13900000007")
    acct = account_id(svc.box, "wechat", "openid-x")
    (patient,) = svc.patients.patients_of(acct)
    slot = slot_of("h1", "nk", TOMORROW)
    booked = book(svc, acct, patient, slot)

    sms = Chat(svc, Channel.sms, "+8613900000007")
    listing = sms.send("2")
    assert f"识别码{booked.serial} 王* 11月24日 周二 08:00-12:00" in listing
    terms = sms.send("3")
    assert "按医院规则可退¥5" in terms and "回复 Y 确认取消, N 保留" in terms
    done = sms.send("Y")
    assert f"已取消预约{booked.serial}" in done
    assert status(svc, booked.serial) == Status.cancelled and places_left(svc, slot) == 20
    assert read_audit(svc.redis, serial=booked.serial)[-1].actor == "patient:sms"
    for _, reply in sms.transcript:
        for paragraph in reply.split("\n\n"):
            assert len(paragraph) <= 134, f"longer than two SMS segments: {paragraph!r}"
        assert "CANCEL" not in reply.upper(), "confirmations are Y/N, never a bare CANCEL"


def test_sms_replies_in_english_never_teach_a_bare_cancel(svc: Services) -> None:
    acct, patient = svc.patient(8, channel="sms", user="+8613900000008")
    book(svc, acct, patient, slot_of("h1", "nk", TOMORROW))
    book(svc, acct, patient, slot_of("h1", "wk", TOMORROW + timedelta(days=1)))
    sms = Chat(svc, Channel.sms, "+8613900000008")
    sms.send("English")
    sms.send("2")
    sms.send("3")
    sms.send("1")
    sms.send("n")
    replies = "\n".join(reply for _, reply in sms.transcript)
    assert "Reply Y to cancel it, N to keep it" in replies
    assert not re.search(r"(reply|send|text)\W+cancel\b", replies, re.IGNORECASE), "never teach a bare CANCEL"


def test_start_with_serial_goes_straight_to_the_terms(svc: Services) -> None:
    acct, patient = svc.patient(9, channel="sms", user="+8613900000009")
    booked = book(svc, acct, patient, slot_of("h1", "nk", TOMORROW), channel="sms")
    book(svc, acct, patient, slot_of("h1", "wk", TOMORROW + timedelta(days=1)), channel="sms")
    dialogs = all_dialogs()
    session = Session()

    def turn_of(typed: str) -> Turn:
        inbound = Inbound(Channel.sms, "+8613900000009", typed)
        return Turn(dialog_deps(svc), inbound, acct, session, svc.clock.now(), lambda t, d: dialogs[d].start(t))

    first = turn_of(f"取消 {booked.serial}")
    start_with_serial(first, booked.serial)
    assert session.state == "cancel.confirm"
    assert f"取消预约{booked.serial}" in first.paragraphs[-1] and "回复 Y 确认取消" in first.paragraphs[-1]
    second = turn_of("Y")
    dialogs["cancel"].step(second)
    assert f"已取消预约{booked.serial}" in second.paragraphs[0]
    assert session.state == "menu.main" and status(svc, booked.serial) == Status.cancelled

    third = turn_of("取消 12345678")
    start_with_serial(third, "12345678")
    assert "没有找到识别码为12345678的预约" in third.paragraphs[0] and session.state == "menu.main"


# --- texts ----------------------------------------------------------------------------------------------------


def test_every_text_has_both_languages_and_the_same_placeholders() -> None:
    formatter = string.Formatter()
    for key, (zh, en) in manage.TEXTS.items():
        assert key.startswith(("appointments.", "cancel.")) and zh and en, key
        fields = [{name for _, name, _, _ in formatter.parse(t) if name} for t in (zh, en)]
        assert fields[0] == fields[1], key
    for status_ in Status:
        assert f"appointments.status.{status_.value}" in manage.TEXTS
