"""Transcripts of booking through the real pipeline on a real Redis: every question, choice form, refusal and SMS size.

The clock is Monday 23 November 2026, 08:00 in Beijing: 24 to 30 November can be booked. The test schedule has, for
every department, a general morning slot (``dr-<dept>``, 08:00-12:00, ¥5) and an expert afternoon slot
(``dr-<dept>-x``, 14:00-17:00, ¥50), capacity 20.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime, timedelta

import pytest
import redis

import rules
from bot.clock import ManualClock
from bot.config import build_config
from bot.patients import account_id
from bot.storage import keys
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import (
    CONFIG_RAW,
    NOW,
    SHANGHAI,
    Services,
    clock,
    id_number,
    make_services,
    phone_number,
    schedule_csv,
    slot_of,
)
from texts import CATALOG

PHONE = "13912345678"
TOMORROW = NOW.date() + timedelta(days=1)  # Tuesday 24 November
SERIAL = re.compile(r"识别码 (\d{8}),第(\d+)号")


def ready(svc: Services, user: str = "openid-a", n: int = 1, channel: Channel = Channel.wechat) -> tuple[Chat, str]:
    """A chat whose account already has patient ``n`` (verified); returns the chat and the patient's pid."""
    _, patient = svc.patient(n, channel=channel.value, user=user)
    return Chat(svc, channel, user), patient.pid


def to_dates(chat: Chat, hospital: str = "1", department: str = "内科") -> str:
    """From the menu to the date question; the reply listing the dates."""
    chat.send("1")
    chat.send(hospital)
    return chat.send(department)


def to_confirm(chat: Chat, hospital: str = "1", department: str = "内科", day: str = "1", slot: str = "1") -> str:
    """From the menu to the confirmation; the summary."""
    to_dates(chat, hospital, department)
    chat.send(day)
    return chat.send(slot)


def book_directly(svc: Services, pid: str, hospital: str, department: str, day: date, afternoon: bool = False) -> str:
    """Book through the service, as if on another channel; the serial."""
    acct = account_id(svc.box, "wechat", "openid-a")
    return svc.booking.book(pid, acct, "wechat", slot_of(hospital, department, day, afternoon)).serial


# --- end to end ------------------------------------------------------------------------------------------------


def test_first_time_user_verifies_and_books_zh(svc: Services) -> None:
    chat = Chat(svc)
    assert "请输入就诊人姓名" in chat.send("1")
    verified = chat.verify("张三", id_number(1), PHONE)
    assert "手机号已验证;身份证号校验通过" in verified
    assert "请选择医院:\n1. 第一医院\n2. 第二医院" in verified, "booking continues after verification"
    assert "请选择第一医院的科室:\n1. 内科\n2. 外科\n3. 儿科" in chat.send("1")
    dates = chat.send("内科")
    assert "请选择内科的就诊日期:\n1. 11月24日 周二\n2. 11月25日 周三" in dates
    assert "7. 11月30日 周一" in dates and "12月1日" not in dates, "only the booking window"
    slots = chat.send("1")
    assert "11月24日 周二 内科,请选择时段:" in slots
    assert "1. dr-nk 08:00-12:00 普通 ¥5 余20" in slots and "2. dr-nk-x 14:00-17:00 专家 ¥50 余20" in slots
    summary = chat.send("2")
    assert "请确认预约:\n张* 11月24日 周二 14:00-17:00\n第一医院 内科 dr-nk-x 专家 ¥50" in summary
    assert "回复 Y 确认, N 取消" in summary
    done = chat.send("Y")
    found = SERIAL.search(done)
    assert found is not None, done
    serial, queue = found.groups()
    assert queue == "1"
    assert "11月24日 周二 14:00-17:00" in done and "第一医院(北京市西城区1号)" in done
    assert "内科 dr-nk-x 挂号费¥50" in done and "11月23日 周一 15:00前可免费取消。" in done
    assert "1. 预约挂号" in done, "back at the menu"
    appointment = svc.store.require(serial)
    assert appointment.status == rules.AppointmentStatus.booked and appointment.slot == slot_of(
        "h1", "nk", TOMORROW, True
    )
    assert appointment.channel == "wechat" and appointment.queue_no == 1


def test_first_time_user_verifies_and_books_en(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("English")
    chat.send("1")
    assert "Choose a hospital:\n1. Diyi Yiyuan" in chat.verify("Li Lei", id_number(2), PHONE)
    chat.send("2")  # 第二医院: one department, still asked
    assert "Choose a date for Neike:\n1. Tue 24 Nov\n2. Wed 25 Nov" in chat.send("1")
    assert "1. dr-nk 08:00-12:00 general ¥5 20 left" in chat.send("Tue 24 Nov")
    summary = chat.send("1")
    assert "Please confirm:\nL*****, Tue 24 Nov 08:00-12:00\nDi'er Yiyuan, Neike, dr-nk, general, ¥5" in summary
    assert "Reply Y to confirm, N to drop it." in summary
    done = chat.send("yes")
    found = re.search(r"Booked! Serial (\d{8}), queue no\. 1", done)
    assert found is not None, done
    assert "Free cancellation until Mon 23 Nov 14:00." in done, "第二医院 has a 14:00 deadline"
    assert "1. Book an appointment" in done
    assert svc.store.require(found.group(1)).hospital == "h2"


def test_a_second_patient_of_the_account_is_asked_for_and_becomes_active(svc: Services) -> None:
    chat, first = ready(svc, n=1)
    acct, second = svc.patient(2, user=chat.user)
    asked = chat.send("1")
    tail1, tail2 = id_number(1)[-4:], id_number(2)[-4:]
    assert f"请选择就诊人:\n1. 张*(证件尾号{tail1})\n2. 张*(证件尾号{tail2})" in asked
    assert "请选择医院" in chat.send("2")
    assert svc.patients.active(acct).pid == second.pid  # type: ignore[union-attr]
    chat.send("1")
    chat.send("外科")
    chat.send("1")
    chat.send("1")
    done = chat.send("确认")
    assert SERIAL.search(done)
    assert [a.pid for a in svc.store.listing()] == [second.pid]
    assert svc.store.of_patient(first) == []


def test_a_single_hospital_is_not_asked_and_partial_department_names_work(redis_db: redis.Redis) -> None:
    raw = dict(CONFIG_RAW)
    raw["hospitals"] = [
        {
            "id": "h9",
            "name": "心脏病医院",
            "address": "上海市1号",
            "departments": [
                {"id": "xn", "name": "心血管内科"},
                {"id": "sn", "name": "神经内科"},
                {"id": "xw", "name": "心脏外科"},
            ],
        }
    ]
    svc = make_services(redis_db, build_config(raw))
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    for dept, doctor in (("xn", "李明"), ("sn", "王芳"), ("xw", "赵强")):
        rows.append(f"h9,{dept},{dept}1,special,{TOMORROW},09:00,11:30,3,300,{doctor}")
    svc.schedule.import_csv("\n".join(rows) + "\n")
    chat, _ = ready(svc)
    assert "请选择心脏病医院的科室:\n1. 心血管内科\n2. 神经内科\n3. 心脏外科" in chat.send("1")
    assert "“心血管内科、神经内科”都符合,请回复序号。" in chat.send("内科")
    assert "没有找到“眼科”" in chat.send("眼科")
    assert "请选择心血管内科的就诊日期:\n1. 11月24日 周二" in chat.send("心内")
    assert "1. 李明 09:00-11:30 特需 ¥300 余3" in chat.send("明天")
    assert "心脏病医院 心血管内科 李明 特需 ¥300" in chat.send("特需")
    assert "心脏病医院(上海市1号)" in chat.send("是")


# --- choosing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2", "外科"),  # the number
        ("外科", "外科"),  # the label
        ("儿", "儿科"),  # a part of the label
        ("２", "外科"),  # a full-width digit
    ],
)
def test_department_by_number_label_or_part(svc: Services, typed: str, expected: str) -> None:
    chat, _ = ready(svc)
    chat.send("1")
    chat.send("1")
    assert f"请选择{expected}的就诊日期" in chat.send(typed)


def test_ambiguous_and_unknown_choices_are_asked_again(svc: Services) -> None:
    chat, _ = ready(svc)
    chat.send("1")
    assert "没有第3项,请回复 1-2 中的序号。" in chat.send("3"), "a number beyond the list, named as such"
    chat.send("第一医院")
    assert "“内科、外科、儿科”都符合,请回复序号。" in chat.send("科")
    assert "请选择内科的就诊日期" in chat.send("内")
    assert "没看懂“下个月”" in chat.send("下个月")
    chat.send("1")
    assert "没有第9项,请回复 1-2 中的序号。" in chat.send("9")
    chat.send("1")
    assert "请回复 Y(是)或 N(否)" in chat.send("也许吧")
    assert "本次未预约" in chat.send("cancel"), "at a booking's confirmation cancel is N (over SMS: Twilio's opt-out)"


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("2", "11月25日 周三"),
        ("明天", "11月24日 周二"),
        ("后天", "11月25日 周三"),
        ("11月25日", "11月25日 周三"),
        ("周三", "11月25日 周三"),
        ("星期五", "11月27日 周五"),
        ("2026-11-26", "11月26日 周四"),
        ("11月26日 周四", "11月26日 周四"),
    ],
)
def test_dates_in_every_form(svc: Services, typed: str, day: str) -> None:
    chat, _ = ready(svc)
    to_dates(chat)
    assert f"{day} 内科,请选择时段:" in chat.send(typed)


@pytest.mark.parametrize(
    ("typed", "day"),
    [("wed", "Wed 25 Nov"), ("tomorrow", "Tue 24 Nov"), ("26 Nov", "Thu 26 Nov"), ("3", "Thu 26 Nov")],
)
def test_dates_in_english(svc: Services, typed: str, day: str) -> None:
    chat, _ = ready(svc)
    chat.send("English")
    to_dates(chat)
    assert f"{day}, Neike: choose a time:" in chat.send(typed)


def test_unbookable_dates_are_explained(svc: Services) -> None:
    chat, _ = ready(svc)
    to_dates(chat)
    assert "11月23日已不可预约,可预约11月24日至11月30日的号源。" in chat.send("今天")
    assert "12月5日尚未放号:号源提前7天于07:30放出,11月28日 周六 07:30起可约。" in chat.send("2026-12-05")
    assert "没看懂“2月30日”" in chat.send("2月30日")
    assert "11月24日 周二 内科" in chat.send("1"), "still at the date question"


def test_a_day_without_clinic_and_a_day_not_yet_released(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, clock=ManualClock(NOW.replace(hour=7)))  # before the 07:30 release
    svc.schedule.import_csv(schedule_csv(TOMORROW, days=2))  # 24, 25 November
    svc.schedule.import_csv(schedule_csv(date(2026, 11, 27), days=4))  # 27 .. 30 November
    chat, _ = ready(svc)
    dates = to_dates(chat)
    assert "11月26日" not in dates and "11月30日" not in dates, "no clinic on the 26th; the 30th opens at 07:30"
    assert "11月26日内科没有出诊,请回复列表中的序号。" in chat.send("11月26日")
    assert "11月30日的号源将于11月23日 周一 07:30放出,请届时再约。" in chat.send("11月30日")


def test_another_department_named_at_the_slot_question(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db)
    rows = schedule_csv(TOMORROW, hospitals=("h1",)).splitlines(keepends=True)
    # 外科 has no clinic on the 24th; 儿科 none in the booking window
    svc.schedule.import_csv("".join(r for r in rows if ",ek," not in r and not (",wk," in r and f",{TOMORROW}," in r)))
    chat, _ = ready(svc)
    to_dates(chat)
    assert "11月24日 周二 内科,请选择时段" in chat.send("1")
    assert "请选择外科的就诊日期:\n1. 11月25日 周三" in chat.send("改挂外科"), "no 外科 on the 24th: its dates"
    assert "11月24日 周二 内科,请选择时段" in chat.send("明天内科")
    no_dates = chat.send("儿科")
    assert "儿科近期暂无可预约的日期。" in no_dates and "没看懂" not in no_dates and "没有找到" not in no_dates
    assert "11月24日 周二 内科,请选择时段" in no_dates, "the slot question stays open"
    assert "11月26日 周四 外科,请选择时段" in chat.send("外科 周四"), "the day named is taken"
    assert "儿科近期暂无可预约的日期。\n\n11月26日 周四 外科,请选择时段" in chat.send("switch to 儿科")
    assert "11月26日 周四 14:00-17:00\n第一医院 外科 dr-wk-x 专家 ¥50" in chat.send("2")


def test_sms_pages_long_lists(svc: Services) -> None:
    day = TOMORROW.isoformat()
    rows = [
        f"h1,ek,doctor{i:02d},expert,{day},{8 + i // 2:02d}:{30 * (i % 2):02d},{9 + i // 2:02d}:00,5,300"
        for i in range(9)
    ]
    svc.schedule.import_csv("hospital,department,doctor,level,date,start,end,capacity,fee\n" + "\n".join(rows) + "\n")
    chat, _ = ready(svc, user="+8613900000009", channel=Channel.sms)
    dates = to_dates(chat, department="儿科")
    assert "7. 11月30日 周一" in dates and "更多" not in dates, "seven dates fit in one SMS"
    first = chat.send("1")
    assert "1. doctor00" in first and "回复 更多 查看更多选项" in first and "doctor08" not in first
    pages = [first]
    while "更多" in pages[-1]:
        pages.append(chat.send("更多"))
    assert all(len(page) <= 134 for page in pages), pages
    shown = "\n".join(pages)
    assert all(f"doctor{i:02d}" in shown for i in range(9)), "every slot is on some page"
    assert "没有更多选项了" in chat.send("更多")
    assert "doctor08" in chat.send("10"), "a slot from a later page is chosen by the number shown"


# --- full slots ----------------------------------------------------------------------------------------------------


def fill(svc: Services, slot: str, by: int = 50) -> None:
    """Leave no place in ``slot``: capacity 1, taken by patient ``by`` on another account."""
    svc.redis.hset(keys.slot(slot), "capacity", 1)
    acct, other = svc.patient(by)
    svc.booking.book(other.pid, acct, "wechat", slot)


def test_a_full_slot_is_shown_and_its_waitlist_offered(svc: Services) -> None:
    fill(svc, slot_of("h1", "nk", TOMORROW))
    chat, pid = ready(svc)
    to_dates(chat)
    slots = chat.send("1")
    assert "1. dr-nk 08:00-12:00 普通 ¥5 已满" in slots and "2. dr-nk-x 14:00-17:00 专家 ¥50 余20" in slots
    assert "dr-nk 08:00 的号已约满。可加入候补" in chat.send("1")  # SPEC §8: the waitlist is offered
    assert "请选择时段" in chat.send("2")  # 2: another slot
    assert "请确认预约" in chat.send("2")
    assert SERIAL.search(chat.send("y"))
    assert len(svc.store.of_patient(pid)) == 1


def test_a_full_day_is_shown_and_its_slots_offered_to_wait_for(svc: Services) -> None:
    fill(svc, slot_of("h1", "nk", TOMORROW), by=50)
    fill(svc, slot_of("h1", "nk", TOMORROW, True), by=51)
    chat, _ = ready(svc)
    assert "1. 11月24日 周二 已满" in to_dates(chat)
    reply = chat.send("1")
    assert "11月24日内科的号已全部约满,可选择一个时段加入候补" in reply  # SPEC §8
    assert "1. dr-nk 08:00-12:00 普通 ¥5 已满" in reply


def test_a_slot_filled_while_confirming_re_offers_the_slots(svc: Services) -> None:
    chat, pid = ready(svc)
    to_confirm(chat)
    fill(svc, slot_of("h1", "nk", TOMORROW))
    reply = chat.send("Y")
    assert "该时段刚刚约满,请选择其他时段。" in reply
    assert "1. dr-nk 08:00-12:00 普通 ¥5 已满" in reply, "the slots are offered again"
    chat.send("2")
    assert SERIAL.search(chat.send("Y"))
    assert [a.start for a in svc.store.of_patient(pid)] == ["14:00"]


def test_a_clinic_suspended_while_confirming_re_offers_the_slots(svc: Services) -> None:
    chat, pid = ready(svc)
    to_confirm(chat)
    svc.schedule.set_slot_status(slot_of("h1", "nk", TOMORROW), "suspended")
    reply = chat.send("Y")
    assert "该时段已停诊,请选择其他时段。" in reply and "11月24日 周二 内科,请选择时段" in reply
    assert svc.store.of_patient(pid) == []


# --- refusals -------------------------------------------------------------------------------------------------------


def test_limit_same_day_same_department(svc: Services) -> None:
    chat, pid = ready(svc)
    book_directly(svc, pid, "h1", "nk", TOMORROW)
    to_confirm(chat, slot="2")
    reply = chat.send("Y")
    assert "同一就诊日同一医院同一科室只能预约1次,张*11月24日已有内科的预约。请另选日期,或先及时取消原预约。" in reply
    assert "请选择内科的就诊日期" in reply, "another date can be chosen"
    chat.send("2")
    chat.send("1")
    assert SERIAL.search(chat.send("Y"))


def test_limit_same_day(svc: Services) -> None:
    chat, pid = ready(svc)
    book_directly(svc, pid, "h1", "nk", TOMORROW)
    book_directly(svc, pid, "h1", "wk", TOMORROW)
    to_confirm(chat, hospital="2")
    reply = chat.send("Y")
    assert "同一就诊日最多预约2次,张*11月24日已约2次。请另选日期,或先及时取消其中一个。" in reply


def test_limit_same_day_follows_the_policy(redis_db: redis.Redis) -> None:
    raw = dict(CONFIG_RAW)
    raw["policy"] = {"limit_same_day": 3, "limit_7_days": 10}
    svc = make_services(redis_db, build_config(raw))
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    chat, pid = ready(svc)
    for department in ("nk", "wk", "ek"):
        book_directly(svc, pid, "h1", department, TOMORROW)
    to_confirm(chat, hospital="2")
    assert "同一就诊日最多预约3次" in chat.send("Y")


def test_limit_7_days_says_when_to_try_again(svc: Services) -> None:
    chat, pid = ready(svc)
    for offset in (1, 2, 3):
        book_directly(svc, pid, "h1", "nk", NOW.date() + timedelta(days=offset))
    to_confirm(chat, day="4")
    reply = chat.send("Y")
    assert "7日内最多预约3次,张*已达上限,11月30日 周一 08:00后可再预约。及时取消的预约不计入。" in reply
    assert "1. 预约挂号" in reply, "nothing to fix here: back to the menu"


def test_limit_3_months_says_when_to_try_again(svc: Services) -> None:
    october = date(2026, 10, 2)
    svc.schedule.import_csv(schedule_csv(october, days=3, hospitals=("h1",)))
    chat, pid = ready(svc)
    clock(svc).set(datetime(2026, 10, 1, 9, 30, tzinfo=SHANGHAI))
    for offset in range(3):
        book_directly(svc, pid, "h1", "nk", october + timedelta(days=offset))
    clock(svc).set(NOW)
    book_directly(svc, pid, "h1", "nk", TOMORROW)
    book_directly(svc, pid, "h1", "nk", TOMORROW + timedelta(days=1))
    to_confirm(chat, day="3")
    reply = chat.send("Y")
    assert "3个月内最多预约5次,张*已达上限,2027年1月1日 周五 09:30后可再预约。" in reply


def test_limit_7_days_in_english(svc: Services) -> None:
    chat, pid = ready(svc)
    for offset in (1, 2, 3):
        book_directly(svc, pid, "h1", "nk", NOW.date() + timedelta(days=offset))
    chat.send("English")
    to_confirm(chat, day="4")
    reply = chat.send("y")
    assert "At most 3 appointments may be made in 7 days and Zhang* has reached that" in reply
    assert "you can book again from Mon 30 Nov 08:00" in reply


def miss(svc: Services, pid: str, visit: date) -> None:
    """Book the morning slot of ``visit`` two days ahead and let it pass unattended."""
    clock(svc).set(datetime.combine(visit - timedelta(days=2), datetime.min.time(), SHANGHAI).replace(hour=9))
    book_directly(svc, pid, "h1", "nk", visit)
    clock(svc).set(datetime.combine(visit, datetime.min.time(), SHANGHAI).replace(hour=12, minute=5))
    assert svc.standing.sweep_no_shows() == 1


def test_suspension_after_three_no_shows_zh_and_en(svc: Services) -> None:
    svc.schedule.import_csv(schedule_csv(date(2026, 11, 25), days=14, hospitals=("h1",)))
    chat, pid = ready(svc)
    for visit in (date(2026, 11, 25), date(2026, 11, 28), date(2026, 12, 1)):
        miss(svc, pid, visit)
    assert svc.standing.standing(pid).suspended_until == date(2027, 2, 28)
    reply = chat.send("1")
    assert "因爽约已暂停预约,2027年3月1日起可再预约。暂停期间仍可查询、取消已有预约。" in reply
    assert "1. 预约挂号" in reply and "请选择医院" not in reply
    chat.send("English")
    reply = chat.send("1")
    assert "you can book again from 1 Mar 2027" in reply and "still view and cancel" in reply


def test_a_flag_for_abuse_is_explained(svc: Services) -> None:
    chat, pid = ready(svc)
    svc.standing.flag(pid, date(2027, 1, 31), "号贩子", "staff:desk")
    assert "因涉嫌恶意预约,已停止预约至2027年2月1日" in chat.send("1")


def hospital_variant(redis_db: redis.Redis, **policy: bool) -> Services:
    raw = dict(CONFIG_RAW)
    raw["hospitals"] = [dict(CONFIG_RAW["hospitals"][0], policy=policy), CONFIG_RAW["hospitals"][1]]
    svc = make_services(redis_db, build_config(raw))
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    return svc


def test_once_per_department_in_the_window(redis_db: redis.Redis) -> None:
    svc = hospital_variant(redis_db, once_per_department_in_window=True)
    chat, pid = ready(svc)
    book_directly(svc, pid, "h1", "nk", TOMORROW)
    to_confirm(chat, day="5")
    reply = chat.send("Y")
    assert "本院规定:预约周期内同一科室只能预约1次,张*已有内科的预约。就诊或及时取消后可再约。" in reply
    assert "1. 预约挂号" in reply


def test_once_per_doctor_in_the_window_offers_the_other_doctors(redis_db: redis.Redis) -> None:
    svc = hospital_variant(redis_db, once_per_doctor_in_window=True)
    chat, pid = ready(svc)
    book_directly(svc, pid, "h1", "nk", TOMORROW)
    to_confirm(chat, day="5")
    reply = chat.send("Y")
    assert "同一医生只能预约1次" in reply and "11月28日 周六 内科,请选择时段" in reply
    chat.send("2")
    assert SERIAL.search(chat.send("Y")), "another doctor of the department"


def test_a_date_that_passes_while_confirming_offers_the_dates_again(svc: Services) -> None:
    clock(svc).set(NOW.replace(hour=23, minute=50))
    chat, pid = ready(svc)
    to_confirm(chat)
    clock(svc).advance(timedelta(minutes=15))  # midnight: the 24th is today, not bookable any more
    reply = chat.send("Y")
    assert "11月24日已不可预约,可预约11月25日至11月30日的号源。" in reply  # 1 December opens at 07:30
    assert "请选择内科的就诊日期:\n1. 11月25日 周三" in reply
    assert svc.store.of_patient(pid) == []


def test_already_booked_slot(svc: Services) -> None:
    chat, pid = ready(svc)
    to_confirm(chat)
    book_directly(svc, pid, "h1", "nk", TOMORROW)  # the same slot, booked from elsewhere meanwhile
    reply = chat.send("Y")
    assert "张*已预约该时段,无需重复预约" in reply and "1. 预约挂号" in reply


def test_no_at_confirmation_books_nothing(svc: Services) -> None:
    chat, pid = ready(svc)
    to_confirm(chat)
    reply = chat.send("N")
    assert "好的,本次未预约。" in reply and "1. 预约挂号" in reply
    assert svc.store.of_patient(pid) == [] and svc.store.listing() == []
    to_confirm(chat)
    assert "好的,本次未预约。" in chat.send("取消"), "the word the prompt offers also means no"


def test_a_deadline_already_passed_is_said_before_confirming(svc: Services) -> None:
    clock(svc).set(NOW.replace(hour=16))  # after 15:00 the day before the 24th
    chat, _ = ready(svc)
    summary = to_confirm(chat)
    assert "已过取消截止时间(11月23日 周一 15:00),不能在线取消。" in summary
    assert "已过取消截止时间" in chat.send("Y")


# --- global commands mid-booking -------------------------------------------------------------------------------


def test_global_commands_work_mid_booking(svc: Services) -> None:
    chat, pid = ready(svc)
    to_dates(chat)
    helped = chat.send("帮助")
    assert "随时可回复" in helped and "请选择内科的就诊日期" in helped, "help, then the question again"
    english = chat.send("English")
    assert "Switched to English." in english and "Choose a date for Neike:\n1. Tue 24 Nov" in english
    chat.send("1")
    assert "已切换为中文。\n\n11月24日 周二 内科,请选择时段:" in chat.send("中文")
    assert "1. 预约挂号" in chat.send("菜单")
    to_confirm(chat)
    left = chat.send("退出")
    assert "已退出当前步骤。" in left and "1. 预约挂号" in left
    assert svc.store.of_patient(pid) == []
    assert "请选择医院" in chat.send("1"), "a new booking starts from the beginning"


# --- SMS size -----------------------------------------------------------------------------------------------------


def assert_short(chat: Chat) -> None:
    """Every paragraph of every reply fits two UCS-2 SMS segments (lists longer than that are paged)."""
    for typed, reply in chat.transcript:
        for paragraph in reply.split("\n\n"):
            assert len(paragraph) <= 134, f"{typed!r} -> {len(paragraph)} characters:\n{paragraph}"


def test_every_booking_reply_over_sms_is_short(svc: Services) -> None:
    user = "+8613900000009"
    chat = Chat(svc, Channel.sms, user)
    chat.send("预约")
    chat.verify("欧阳娜娜", id_number(7), user)  # one patient: straight to the hospital question
    for typed in ("2", "1", "1", "1"):  # 第二医院, 内科, 24 November, the morning
        chat.send(typed)
    assert "请回复 Y(是)或 N(否)" in chat.send("1"), "1 is not an answer to a Y/N question: asked again"
    assert SERIAL.search(chat.send("Y"))
    svc.patients.add_patient(account_id(svc.box, "sms", user), "sms", "司马相如", id_number(8), phone_number(8))
    assert "请选择就诊人" in chat.send("1")
    chat.send("1")
    chat.send("1")
    chat.send("1")
    chat.send("更多")
    chat.send("1")
    chat.send("1")
    fill(svc, slot_of("h1", "nk", TOMORROW))
    assert "刚刚约满" in chat.send("Y")
    assert "已约满" in chat.send("1")
    chat.send("2")  # not the waitlist: another slot
    clock(svc).advance(timedelta(minutes=1))  # the waitlist question was one message more: a fresh minute
    chat.send("2")
    assert SERIAL.search(chat.send("Y"))
    clock(svc).advance(timedelta(minutes=1))  # at most 20 messages a minute
    for typed in ("1", "1", "2", "1", "明天", "2"):
        chat.send(typed)
    assert "同一就诊日同一医院同一科室只能预约1次" in chat.send("Y")
    assert "尚未放号" in chat.send("2026-12-05")
    chat.send("菜单")
    assert_short(chat)
    assert len(chat.transcript) > 20


def test_a_busy_clinic_day_is_paged_within_two_segments(svc: Services) -> None:
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    for n, name in enumerate(("欧阳明", "司马芳", "诸葛亮", "上官婉", "慕容复", "东方白")):
        rows.append(f"h1,ek,e{n},special,{TOMORROW},{8 + n:02d}:00,{9 + n:02d}:30,99,300,{name}")
    svc.schedule.import_csv("\n".join(rows) + "\n")
    chat, _ = ready(svc, user="+8613900000009", channel=Channel.sms)
    to_dates(chat, department="儿科")
    first = chat.send("1")
    assert "11月24日时段:\n1. dr-ek 08:00-12:00普通¥5余20\n2. 欧阳明 08:00-09:30特需¥300余99" in first
    assert "回复 更多" in first
    assert "6. 慕容复 12:00-13:30特需¥300余99" in chat.send("更多")
    assert "慕容复" in chat.send("6")
    assert_short(chat)


def test_every_refusal_text_is_short_in_chinese(svc: Services) -> None:
    chat, pid = ready(svc, user="+8613900000009", channel=Channel.sms)
    for offset in (1, 2, 3):
        book_directly(svc, pid, "h1", "nk", NOW.date() + timedelta(days=offset))
    to_confirm(chat, day="4")
    chat.send("Y")
    svc.standing.flag(pid, date(2027, 1, 31), "号贩子", "staff:desk")
    chat.send("1")
    assert_short(chat)


# --- the catalog -------------------------------------------------------------------------------------------------

REFUSAL_CODES = [
    *("window_past", "window_too_far", "window_too_early", "slot_started", "already_booked"),
    *("limit_same_day_department", "limit_same_day", "limit_7_days", "limit_3_months"),
    *("once_per_department", "once_per_doctor", "suspended", "flagged"),
    *("slot_full", "slot_closed", "no_slot", "busy"),
]
REFUSAL_VALUES = {"rule", "days", "patient", "department", "day", "retry", "opens", "n", "first", "last", "release"}
REFUSAL_VALUES |= {"until"}


@pytest.mark.parametrize("code", REFUSAL_CODES)
def test_every_refusal_has_its_own_text_in_both_languages(code: str) -> None:
    zh, en = CATALOG[f"book.refused_{code}"]
    fields = [{f for _, f, _, _ in string.Formatter().parse(t) if f} for t in (zh, en)]
    assert fields[0] == fields[1], "the same placeholders in both languages"
    assert fields[0] <= REFUSAL_VALUES, "only values the dialog provides"


def test_english_booking_texts_fit_the_gsm_alphabet() -> None:
    for key, (_, en) in CATALOG.items():
        if key.startswith("book."):
            assert all(" " <= c <= "~" or c in "\n¥" for c in en), key
