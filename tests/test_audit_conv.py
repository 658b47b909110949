"""Defects found by talking to the bot as patients do (an audit of the conversation), each pinned by a test.

The clock and the schedule are those of ``tests.support`` (Monday 23 November 2026, 08:00 in Beijing; a general
morning and an expert afternoon slot of every department every day from tomorrow).
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import redis

import rules
from bot.config import build_config
from bot.patients import account_id
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import (
    CONFIG_RAW,
    NOW,
    Services,
    clock,
    id_number,
    make_config,
    make_services,
    phone_number,
    schedule_csv,
    slot_of,
)
from tests.test_dialog_book import SERIAL, book_directly, fill, ready, to_confirm, to_dates

TOMORROW = NOW.date() + timedelta(days=1)  # Tuesday 24 November
DAY_AFTER = NOW.date() + timedelta(days=2)  # Wednesday 25 November


def booked(svc: Services, channel: Channel = Channel.wechat, user: str = "openid-a") -> tuple[Chat, str]:
    """Patient 1 booked the 内科 morning of 24 Nov through the dialog; the chat (back at the menu) and the serial."""
    chat, _ = ready(svc, user, 1, channel)
    to_confirm(chat)
    found = SERIAL.search(chat.send("Y"))
    assert found is not None
    return chat, found[1]


def fresh_minute(svc: Services, chat: Chat) -> Chat:
    """The same user a minute later (the per-minute message limit does not get in the way), at the menu."""
    clock(svc).advance(timedelta(seconds=61))
    chat.send("菜单")
    return chat


# --- a message that names an existing appointment and what to do with it is never a new booking ----------------


@pytest.mark.parametrize(
    "typed",
    ["取消预约 {s}", "取消预约{s}", "我要取消 {s}", "退号 {s}", "取消挂号 {s}", "cancel appointment {s}",
     "cancel my appointment {s}", "please cancel {s}"],
)  # fmt: skip
@pytest.mark.parametrize("channel", [Channel.wechat, Channel.sms])
def test_cancel_in_ordinary_words_with_the_serial_cancels_that_one(svc: Services, typed: str, channel: Channel) -> None:
    chat, serial = booked(svc, channel, "openid-a" if channel == Channel.wechat else "+8613900000001")
    reply = chat.send(typed.format(s=serial))
    assert "请选择医院" not in reply, "a cancellation is not a new booking"
    assert f"取消预约{serial}" in reply and "回复 Y 确认取消" in reply, reply


@pytest.mark.parametrize(
    "typed", ["我想改约 {s}", "改约预约 {s}", "reschedule appointment {s}", "reschedule my appointment {s}"]
)
def test_reschedule_in_ordinary_words_with_the_serial_moves_that_one(svc: Services, typed: str) -> None:
    chat, serial = booked(svc)
    reply = chat.send(typed.format(s=serial))
    assert "请选择医院" not in reply
    assert f"改约 {serial}" in reply and "请选择内科的就诊日期" in reply, reply


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("取消明天的预约", "回复 Y 确认取消"),
        ("我想取消我的预约", "回复 Y 确认取消"),
        ("预约查询", "您有1个待就诊预约"),
        ("我预约了什么", "您有1个待就诊预约"),
        ("改一下预约", "请选择内科的就诊日期"),
        ("reschedule my appointment", "请选择内科的就诊日期"),
        ("reschedule my booking", "请选择内科的就诊日期"),
        ("change my appointment time", "请选择内科的就诊日期"),
        ("what did I book", "您有1个待就诊预约"),
        ("show me my appointments", "您有1个待就诊预约"),
        ("查看我的预约", "您有1个待就诊预约"),
    ],
)
def test_a_sentence_about_an_appointment_is_that_errand_not_a_new_booking(
    svc: Services, typed: str, expected: str
) -> None:
    chat, _ = booked(svc)
    reply = fresh_minute(svc, chat).send(typed)
    assert "请选择医院" not in reply, f"{typed!r} started a new booking"
    assert expected in reply, reply


@pytest.mark.parametrize(
    "typed",
    [
        "明天上午内科",
        "预约明天内科",
        "挂明天的号",
        "book tomorrow",
        # what is available, not what the patient holds; a change of plan, not of an appointment
        "查询明天能不能预约",
        "can you show me how to book an appointment",
        "book an appointment, change of plans",
    ],
)
def test_booking_sentences_still_book(svc: Services, typed: str) -> None:
    chat, _ = booked(svc)
    reply = fresh_minute(svc, chat).send(typed)
    assert "请选择医院" in reply or "请确认预约" in reply, reply


# --- personal data: a reply never carries a full name in clear ----------------------------------------------------


@pytest.mark.parametrize(("typed", "shown"), [("欧阳娜娜", "欧阳**"), ("王小明", "王**")])
def test_the_id_question_shows_the_name_masked(svc: Services, typed: str, shown: str) -> None:
    chat = Chat(svc)
    chat.send("1")
    reply = chat.send(typed)
    assert typed not in reply, f"the full name in clear: {reply}"
    assert f"请输入{shown}的18位居民身份证号" in reply


def test_adding_a_patient_shows_their_name_masked(svc: Services) -> None:
    chat, _ = ready(svc)
    chat.send("4")
    chat.send("1")  # 添加就诊人
    reply = chat.send("李四")
    assert "李四" not in reply and "请输入李*的18位居民身份证号" in reply, reply


# --- 改约: a full day is not a dead end -------------------------------------------------------------------------


def full_day_to_move_into(svc: Services) -> tuple[Chat, str]:
    """Patient 1 booked 24 Nov and starts moving it; both slots of 25 Nov are full (patients 50 and 51)."""
    fill(svc, slot_of("h1", "nk", DAY_AFTER))
    fill(svc, slot_of("h1", "nk", DAY_AFTER, afternoon=True), by=51)
    chat, serial = booked(svc)
    assert "11月25日 周三 已满" in chat.send(f"改约 {serial}")
    return chat, serial


def test_moving_into_a_full_day_says_so_and_asks_the_date_again(svc: Services) -> None:
    chat, _ = full_day_to_move_into(svc)
    reply = chat.send("2")  # 25 Nov, marked full
    assert "11月25日" in reply and "已全部约满" in reply and "请选择内科的就诊日期" in reply, reply
    assert "请选择时段" in chat.send("3"), "another date can be chosen at once"


def test_a_date_typed_at_the_move_slot_question_changes_the_day(svc: Services) -> None:
    chat, serial = booked(svc)
    chat.send(f"改约 {serial}")
    assert "11月25日 周三 内科,请选择时段" in chat.send("2")
    reply = chat.send("11月26日")
    assert "11月26日 周四 内科,请选择时段" in reply, reply


def test_every_slot_full_at_the_move_slot_question_goes_back_to_the_dates(svc: Services) -> None:
    chat, serial = booked(svc)
    chat.send(f"改约 {serial}")
    assert "请选择时段" in chat.send("2")  # 25 Nov, places left while the list is read
    fill(svc, slot_of("h1", "nk", DAY_AFTER))
    fill(svc, slot_of("h1", "nk", DAY_AFTER, afternoon=True), by=51)
    reply = chat.send("1")
    assert "已全部约满" in reply and "请选择内科的就诊日期" in reply, reply


# --- 我的预约 does not offer what the rules no longer allow ------------------------------------------------------


def test_my_appointments_past_the_deadline_does_not_offer_move_or_cancel(svc: Services) -> None:
    chat, serial = booked(svc)  # 24 Nov 08:00: free cancellation and moves until 23 Nov 15:00
    clock(svc).set(NOW.replace(hour=16))
    listing = chat.send("我的预约")
    assert f"识别码{serial}" in listing
    assert f"改约 {serial}" not in listing and f"取消 {serial}" not in listing, listing
    assert "已过取消截止时间11月23日 周一 15:00" in listing, listing
    assert "已过" in chat.send(f"取消 {serial}"), "and indeed it cannot be cancelled online"


def test_my_appointments_before_the_deadline_offers_both(svc: Services) -> None:
    chat, serial = booked(svc)
    listing = fresh_minute(svc, chat).send("我的预约")
    assert f"改约回复「改约 {serial}」,取消回复「取消 {serial}」" in listing


def test_my_appointments_with_late_cancellation_allowed_offers_cancel_only(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, make_config(late_cancel="allow_with_violation"))
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    chat, serial = booked(svc)
    clock(svc).set(NOW.replace(hour=16))
    listing = chat.send("我的预约")
    assert f"改约 {serial}" not in listing and f"取消 {serial}" in listing and "计1次爽约" in listing, listing


# --- a Y that answers a cancellation is that answer, not a claim of a held place ---------------------------------


def waiting_with_another_appointment(svc: Services) -> tuple[Chat, str]:
    """Patient 1 waits for the full 内科 morning of 24 Nov and holds a 外科 appointment of 26 Nov (its serial)."""
    fill(svc, slot_of("h1", "nk", TOMORROW))
    chat, serial = booked_elsewhere(svc)
    to_dates(chat)
    chat.send("1")
    chat.send("1")
    assert "已加入候补" in chat.send("候补")
    return chat, serial


def booked_elsewhere(svc: Services) -> tuple[Chat, str]:
    chat, pid = ready(svc)
    serial = book_directly(svc, pid, "h1", "wk", TOMORROW + timedelta(days=2))
    return chat, serial


def test_y_at_a_cancellation_cancels_even_with_a_place_held(svc: Services) -> None:
    chat, serial = waiting_with_another_appointment(svc)
    assert "回复 Y 确认取消" in chat.send(f"取消 {serial}")
    other = Chat(svc, user="openid-50")
    other.send("3")
    assert "已取消预约" in other.send("Y")  # a place of the 24 Nov morning is now held for patient 1
    reply = chat.send("Y")  # the answer to "回复 Y 确认取消"
    assert f"已取消预约{serial}" in reply, f"the cancellation asked for was not done: {reply}"
    assert svc.store.require(serial).status == rules.AppointmentStatus.cancelled
    assert "已为您保留至" in reply, "the held place is recalled"
    assert "候补成功" in chat.send("Y"), "and the next Y claims it"


# --- leaving the waitlist in ordinary words ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["退出候补", "取消候补", "不候补了", "leave the waitlist", "leave waitlist"])
def test_leave_the_waitlist_without_a_number_lists_the_entries_and_how(svc: Services, typed: str) -> None:
    chat, _ = waiting_with_another_appointment(svc)
    reply = fresh_minute(svc, chat).send(typed)
    assert "没看懂" not in reply and "not in the list" not in reply, reply
    assert "您的候补(1个)" in reply and "退出候补请回复「退出候补 序号」" in reply, reply


# --- RULES §9: ages count on the visit date: a date on which the patient is outside is refused at the date ---------


@pytest.fixture
def kids(redis_db: redis.Redis) -> Services:
    """The test hospitals with 儿科 for ages 14 and under (RULES §9)."""
    raw = copy.deepcopy(CONFIG_RAW)
    raw["hospitals"][0]["departments"][2]["age_max"] = 14
    services = make_services(redis_db, build_config(raw))
    services.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    return services


def turning_15_on_26_nov(svc: Services) -> tuple[Chat, str]:
    """A child born 26 Nov 2011 (14 until 25 Nov 2026, 15 from 26 Nov) on an account of their own."""
    acct = account_id(svc.box, "wechat", "openid-kid")
    child = svc.patients.add_patient(acct, "wechat", "李小宝", id_number(3, "20111126"), phone_number(3))
    return Chat(svc, user="openid-kid"), child.pid


def test_a_date_on_which_the_child_is_over_age_is_refused_at_the_date(kids: Services) -> None:
    chat, _ = turning_15_on_26_nov(kids)
    to_dates(chat, department="儿科")
    reply = chat.send("11月26日")
    assert "请选择时段" not in reply, "no slots of a day the department will refuse the patient on"
    assert "11月26日" in reply and "14岁及以下" in reply and "请选择其他日期" in reply, reply
    assert "11月25日 周三 儿科,请选择时段" in chat.send("11月25日"), "an earlier date still works"


def test_moving_a_child_to_a_date_over_age_is_refused_at_the_date(kids: Services) -> None:
    chat, pid = turning_15_on_26_nov(kids)
    acct = account_id(kids.box, "wechat", "openid-kid")
    serial = kids.booking.book(pid, acct, "wechat", slot_of("h1", "ek", TOMORROW)).serial
    chat.send(f"改约 {serial}")
    reply = chat.send("11月26日")
    assert "请选择时段" not in reply and "请选择其他日期" in reply, reply
    assert "请为其选择其他科室" not in reply, "a move cannot change the department"
    assert "11月25日 周三 儿科,请选择时段" in chat.send("11月25日")


def test_a_sentence_naming_an_over_age_date_is_refused_at_the_date(kids: Services) -> None:
    chat, _ = turning_15_on_26_nov(kids)
    reply = chat.send("11月26日儿科挂号")
    assert "请确认预约" not in reply and "请选择时段" not in reply, reply
    assert "请选择其他日期" in reply and "请选择儿科的就诊日期" in reply, reply


# --- the question whether to join a full slot's waitlist repeats its own answers --------------------------------


def at_the_join_question(svc: Services, english: bool = False) -> Chat:
    fill(svc, slot_of("h1", "nk", TOMORROW))
    chat, _ = ready(svc)
    if english:
        chat.send("English")
    to_dates(chat, department="Neike" if english else "内科")
    chat.send("1")
    assert "WAIT" in chat.send("1") or "「候补」" in chat.transcript[-1][1]
    return chat


def test_an_unclear_answer_to_join_repeats_the_questions_own_answers_zh(svc: Services) -> None:
    reply = at_the_join_question(svc).send("也许")
    assert "回复 1 或「候补」加入候补,2 选其他时段" in reply and "Y(是)或 N(否)" not in reply, reply


def test_an_unclear_answer_to_join_repeats_the_questions_own_answers_en(svc: Services) -> None:
    reply = at_the_join_question(svc, english=True).send("maybe")
    assert "Reply 1 or WAIT to join" in reply and "Y (yes) or N (no)" not in reply, reply


def test_join_the_waitlist_in_words_joins(svc: Services) -> None:
    assert "On the waitlist" in at_the_join_question(svc, english=True).send("join the waitlist")


# --- N while a place is held: the place is named, not "nothing to confirm" ----------------------------------------


def test_no_to_a_held_place_says_it_is_held_and_how_to_give_it_up(svc: Services) -> None:
    chat, _ = waiting_with_another_appointment(svc)
    other = Chat(svc, user="openid-50")
    other.send("3")
    assert "已取消预约" in other.send("Y")  # a place of the 24 Nov morning is now held for patient 1
    reply = chat.send("N")
    assert "现在没有需要确认的事项" not in reply, "something is waiting for an answer"
    assert "已为您保留至" in reply and "退出候补 1" in reply, reply
    assert "已退出候补" in chat.send("退出候补 1")


# --- RULES §12: a move into a day being released by lottery is not first-come -------------------------------------

RELEASE = NOW.replace(hour=7, minute=30)  # 30 November is released at 07:30 on 23 November


def test_a_move_into_a_day_in_its_lottery_window_does_not_take_a_place_first_come(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, make_config(release_mode="lottery", lottery_window_seconds=60))
    clock(svc).set(RELEASE - timedelta(days=1))
    svc.schedule.import_csv(
        "hospital,department,doctor,level,date,start,end,capacity,fee\n"
        "h1,nk,dr-nk,general,2026-11-30,08:00,12:00,1,5\n"
        "h1,nk,dr-nk,general,2026-11-25,08:00,12:00,5,5\n"
    )
    chat, pid = ready(svc)
    serial = book_directly(svc, pid, "h1", "nk", DAY_AFTER)
    clock(svc).set(RELEASE + timedelta(seconds=5))  # inside the draw's window: requests for 30 Nov are entries
    chat.send(f"改约 {serial}")
    chat.send("11月30日")
    reply = chat.send("1") + chat.send("Y")
    assert "改约成功" not in reply, "the one place of a day being drawn went to a move, first-come"
    assert "抽签" in reply and "07:31" in reply, reply
    assert svc.schedule.slot("h1|nk|dr-nk|2026-11-30|08:00").places_left == 1  # type: ignore[union-attr]
    assert svc.store.require(serial).status == rules.AppointmentStatus.booked, "the old one is kept"
    clock(svc).set(RELEASE + timedelta(seconds=61))  # after the window: first-come again
    chat.send(f"改约 {serial}")
    chat.send("11月30日")
    chat.send("1")
    assert "改约成功" in chat.send("Y")


# --- a booking sentence as the first words of a conversation ----------------------------------------------------


@pytest.mark.parametrize("typed", ["明天上午内科", "内科"])
def test_a_booking_sentence_opening_a_new_conversation_books(svc: Services, typed: str) -> None:
    """The first message of a conversation (a new session: the last one ended hours ago) that is a booking sentence
    without the booking word is taken as the menu takes it later, after the welcome — not the welcome alone."""
    chat, _ = ready(svc)
    clock(svc).advance(timedelta(hours=3))
    reply = chat.send(typed)
    assert "欢迎使用预约挂号服务" in reply and "请选择医院" in reply, reply
    assert "内科" in chat.send("1"), "the department named is kept"


def test_a_greeting_opening_a_new_conversation_gets_the_welcome_and_menu(svc: Services) -> None:
    chat = Chat(svc, user="openid-greeting")
    reply = chat.send("你好")
    assert "欢迎使用预约挂号服务" in reply and "1. 预约挂号" in reply, reply
