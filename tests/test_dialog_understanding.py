"""Transcripts of a bot that understands ordinary phrasing (issue 13): intents, one-sentence booking, dates, filters.

Real pipeline, real Redis. One hospital (so it is never asked) with English names; 心血管内科 has 张伟 (general,
mornings) and 李娜 (expert, afternoons) every day from tomorrow; 神经内科 has 王芳 in the mornings. The clock is
Monday 23 November 2026, 08:00 in Beijing: 24 to 30 November can be booked.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

import rules
from bot.config import build_config
from tests.dialog_support import Chat
from tests.support import CONFIG_RAW, NOW, Services, make_services

TOMORROW = NOW.date() + timedelta(days=1)


def heart_services(client: redis.Redis, capacity: int = 20) -> Services:
    """The services with the one heart hospital and its doctors (module docstring), ten days from tomorrow."""
    raw = dict(CONFIG_RAW)
    raw["hospitals"] = [
        {
            "id": "h9",
            "name": "心脏病医院",
            "name_en": "Heart Hospital",
            "departments": [
                {"id": "xn", "name": "心血管内科", "name_en": "Cardiology"},
                {"id": "sn", "name": "神经内科", "name_en": "Neurology"},
                {"id": "pf", "name": "皮肤科", "name_en": "Dermatology"},  # configured, no slots
            ],
        }
    ]
    svc = make_services(client, build_config(raw))
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    for offset in range(10):
        day = TOMORROW + timedelta(days=offset)
        rows.append(f"h9,xn,zw,general,{day},08:00,11:30,{capacity},5,张伟")
        rows.append(f"h9,xn,ln,expert,{day},14:00,17:00,{capacity},50,李娜")
        rows.append(f"h9,sn,wf,general,{day},08:00,11:30,{capacity},5,王芳")
    svc.schedule.import_csv("\n".join(rows) + "\n")
    return svc


@pytest.fixture
def heart(redis_db: redis.Redis) -> Services:
    return heart_services(redis_db)


def chat_of(svc: Services, english: bool = False) -> Chat:
    """A chat whose account has one verified patient, at the menu."""
    svc.patient(1, user="openid-a")
    chat = Chat(svc)
    chat.send("English" if english else "菜单")
    return chat


# --- the menu understands ordinary words -------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["我要挂号", "挂个号", "我想预约一下", "预约挂号🙏", "I'd like to book"])
def test_booking_in_ordinary_words_starts_booking(heart: Services, typed: str) -> None:
    assert "请选择心脏病医院的科室" in chat_of(heart).send(typed)


def test_yes_at_the_menu_says_there_is_nothing_to_confirm(heart: Services) -> None:
    reply = chat_of(heart).send("确认")
    assert "现在没有需要确认的事项。" in reply and "没看懂" not in reply and "1. 预约挂号" in reply


def test_reschedule_is_recognised_from_any_step(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")  # in the middle of booking
    reply = chat.send("我想改个时间")
    assert "您目前没有可改约的预约。" in reply and "1. 预约挂号" in reply


def test_my_appointments_and_cancel_from_any_step(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    assert "您目前没有可取消的预约。" in chat.send("cancel my appointment")
    chat.send("明天挂号")
    assert "您目前没有待就诊的预约。" in chat.send("看看我的预约")


# --- one-sentence booking ----------------------------------------------------------------------------------------


def test_one_sentence_fills_department_date_and_time_of_day(heart: Services) -> None:
    reply = chat_of(heart).send("明天上午心内科")
    assert "请确认预约:\n张* 11月24日 周二 08:00-11:30\n心脏病医院 心血管内科 张伟 普通 ¥5" in reply


def test_one_sentence_in_english(heart: Services) -> None:
    reply = chat_of(heart, english=True).send("tomorrow morning cardiology")
    assert "Please confirm:" in reply and "08:00-11:30" in reply and "Cardiology, Zhang Wei" in reply


def test_other_departments_named_at_the_date_and_slot_questions_in_english(heart: Services) -> None:
    chat = chat_of(heart, english=True)
    chat.send("book")
    assert "Choose a date for Cardiology" in chat.send("cardiology")
    reply = chat.send("switch to dermatology")
    assert "Dermatology has no bookable date in the coming days." in reply and "Choose a date for Cardiology" in reply
    assert "Tue 24 Nov, Cardiology: choose a time:" in chat.send("tomorrow")
    assert "Tue 24 Nov, Neurology: choose a time:" in chat.send("switch to neurology")


def test_doctor_level_and_weekday_in_one_sentence(heart: Services) -> None:
    chat = chat_of(heart)
    reply = chat.send("挂李娜下周一的专家号")  # 李娜 works in 心血管内科 only: the department is not asked
    assert "请确认预约:\n张* 11月30日 周一 14:00-17:00\n心脏病医院 心血管内科 李娜 专家 ¥50" in reply
    assert "识别码" in chat.send("Y")


def test_a_sentence_asks_only_what_it_did_not_name(heart: Services) -> None:
    chat = chat_of(heart)
    assert "请选择心脏病医院的科室" in chat.send("明天挂号")
    assert "11月24日 周二 心血管内科,请选择时段" in chat.send("心内")


# --- dates -------------------------------------------------------------------------------------------------------


def test_a_past_date_is_named_as_past(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("心内")
    reply = chat.send("11月22日")
    assert "11月22日已经过去了。可预约11月24日至11月30日" in reply
    assert "尚未放号" not in reply and "2027" not in reply


def test_a_date_beyond_the_window_gives_the_real_release_time(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("心内")
    reply = chat.send("12月2日")
    assert "12月2日尚未放号" in reply and "11月25日 周三 07:30起可约" in reply and "2027" not in reply


def test_slash_date_at_the_slot_step_is_a_change_of_day_never_option_1(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("心内")
    assert "11月24日 周二 心血管内科,请选择时段" in chat.send("1")
    assert "11月26日 周四 心血管内科,请选择时段" in chat.send("11/26")
    reply = chat.send("12/5")
    assert "12月5日尚未放号" in reply and "请确认预约" not in reply
    assert "请确认预约" not in chat.send("12-05")


# --- the slot step filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("下午", "李娜 专家"), ("李娜 下午", "李娜 专家"), ("afternoon", "李娜 专家"), ("专家", "李娜 专家")]
    + [("张伟", "张伟 普通")],
)
def test_time_of_day_doctor_or_level_at_the_slot_step(heart: Services, typed: str, expected: str) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("心内")
    chat.send("1")
    reply = chat.send(typed)
    assert "请确认预约" in reply and f"心血管内科 {expected}" in reply


def test_a_day_at_the_slot_step_with_a_time_of_day(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("心内")
    chat.send("1")
    assert "11月27日 周五 14:00-17:00" in chat.send("周五下午")


def test_a_filter_nothing_fits_shows_all(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    chat.send("神经")
    chat.send("1")
    reply = chat.send("专家")
    assert "11月24日没有符合要求的时段,以下是全部时段" in reply and "1. 王芳 08:00-11:30" in reply


# --- confirmation is explicit ------------------------------------------------------------------------------------


def test_one_at_the_cancel_confirmation_asks_again_and_cancels_nothing(heart: Services) -> None:
    acct, patient = heart.patient(1, user="openid-a")
    booked = heart.booking.book(patient.pid, acct, "wechat", f"h9|xn|zw|{TOMORROW}|08:00")
    chat = Chat(heart)
    chat.send("菜单")
    assert "回复 Y 确认取消, N 保留" in chat.send("3")
    assert "没看懂“1”。请回复 Y(是)或 N(否)。" in chat.send("1")
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.booked
    chat.send("Y")
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.cancelled


def test_one_at_the_booking_confirmation_asks_again(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("明天上午心内科")
    assert "没看懂“1”。请回复 Y(是)或 N(否)。" in chat.send("1")
    assert heart.store.listing() == []
    assert "识别码" in chat.send("是")


def test_a_name_at_verification_is_a_name_even_with_a_booking_word(heart: Services) -> None:
    chat = Chat(heart, user="openid-new")
    assert "请输入就诊人姓名" in chat.send("我要挂号")
    assert "请输入就诊人姓名" not in chat.send("李挂号"), "taken as the name, not as a new booking"
