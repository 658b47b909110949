"""候补 in the conversation (SPEC §8), through the real pipeline on a real redis-server: a full slot offers the
waitlist, another patient's cancellation sends an offer, ``Y`` books it from wherever the patient is; listing and
leaving on WeChat and by SMS commands."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from adapters.sms.webhook import pack, parse, sms_segments
from app.worker import run_worker
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import NOW, Services, clock, slot_of
from tests.test_dialog_book import fill, ready, to_dates

TOMORROW = NOW.date() + timedelta(days=1)
MORNING = slot_of("h1", "nk", TOMORROW)
SERIAL = re.compile(r"识别码 (\d{8}),第(\d+)号")


def waiting(
    svc: Services, user: str = "openid-a", n: int = 1, channel: Channel = Channel.wechat, position: int = 1
) -> Chat:
    """Patient ``n`` joined the waitlist of the full morning slot of 内科 on 24 Nov (booked by patient 50)."""
    chat, _ = ready(svc, user, n, channel)
    to_dates(chat)
    chat.send("1")  # 24 Nov
    assert "的号已约满。可加入候补" in chat.send("1")  # the full morning
    joined = chat.send("候补")
    assert "已加入候补" in joined and f"排第{position}位" in joined, joined
    return chat


def cancel_by_the_other(svc: Services) -> str:
    """Patient 50 cancels the morning through the dialog (the cancel path), on an account of their own."""
    other = Chat(svc, user="openid-50")
    other.send("3")
    assert "已取消预约" in other.send("Y")
    return other.transcript[-1][1]


def offers_to(svc: Services, to: str) -> list[dict[str, str]]:
    run_worker(svc, burst=True)  # the offer's push is a job
    return [m for m in svc.outbox.messages_for(to) if m["kind"] == "offer"]


def test_full_slot_join_cancel_offer_y_booked(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc)
    cancel_by_the_other(svc)
    [offer] = offers_to(svc, "openid-a")
    assert "候补有号" in offer["text"] and "08:00" in offer["text"] and "保留至" in offer["text"]
    assert "已为您保留至" in chat.send("我的候补")
    booked = chat.send("Y")
    assert "候补成功" in booked and SERIAL.search(booked), booked
    run_worker(svc, burst=True)
    kinds = [m["kind"] for m in svc.outbox.messages_for("openid-a")]
    assert kinds == ["offer", "confirmation"], "the normal confirmation follows"
    assert svc.schedule.slot(MORNING).places_left == 0  # type: ignore[union-attr]


def test_y_claims_the_offer_wherever_the_patient_is(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc)
    to_dates(chat)
    chat.send("1")
    assert "请确认预约" in chat.send("2")  # at the confirmation of another booking
    cancel_by_the_other(svc)
    reply = chat.send("Y")
    assert "候补成功" in reply and "08:00" in reply, "the pending offer takes precedence over the Y"


def test_a_lapsed_offer_is_said_and_goes_on(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc)
    second = waiting(svc, "openid-b", 2, position=2)
    cancel_by_the_other(svc)
    clock(svc).advance(timedelta(minutes=16))
    assert "已过期" in chat.send("Y")
    assert "候补成功" in second.send("是")


def test_list_and_leave(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc)
    listing = chat.send("我的候补")
    assert "您的候补(1个)" in listing and "1. 张* 11月24日 周二 08:00-12:00 内科" in listing and "排第1位" in listing
    assert "没有第2个候补" in chat.send("退出候补 2")
    assert "已退出候补" in chat.send("退出候补 1")
    assert "您目前没有候补" in chat.send("我的候补")


def test_my_appointments_lists_the_waitlist_entries_and_how_to_leave(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc)
    listing = chat.send("我的预约")
    assert "您目前没有待就诊的预约。" in listing and "您的候补(1个)" in listing
    assert "1. 张* 11月24日 周二 08:00-12:00 内科 dr-nk 排第1位" in listing
    assert "退出候补请回复「退出候补 序号」" in listing
    chat.send("English")
    listing = chat.send("my appointments")
    assert "Your waitlist (1):" in listing and "1. Zhang* Tue 24 Nov 08:00-12:00 Neike dr-nk number 1" in listing
    assert "To leave one, send LEAVE and its number" in listing
    assert "已退出候补" not in chat.send("中文") and "已退出候补" in chat.send("退出候补 1")
    assert "您的候补" not in chat.send("我的预约")


def test_my_appointments_over_sms_lists_a_held_offer(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc, "+8613900000001", 1, Channel.sms)
    cancel_by_the_other(svc)
    listing = chat.send("查询")
    assert "您的候补(1个)" in listing and "已为您保留至" in listing and "回复 Y 确认" in listing


def test_declining_the_waitlist_goes_back_to_the_slots(svc: Services) -> None:
    fill(svc, MORNING)
    chat, _ = ready(svc)
    to_dates(chat)
    chat.send("1")
    chat.send("1")
    reply = chat.send("2")
    assert "未加入候补" in reply and "请选择时段" in reply


def test_joining_refused_by_a_limit_says_which(svc: Services) -> None:
    fill(svc, MORNING)
    chat, pid = ready(svc)
    svc.booking.book(pid, svc.patient(1, user="openid-a")[0], "wechat", slot_of("h1", "nk", TOMORROW, True))
    to_dates(chat)
    chat.send("1")
    chat.send("1")
    assert "已加入候补" not in chat.send("1")


def test_sms_commands(svc: Services) -> None:
    fill(svc, MORNING)
    phone = "+8613900000001"
    chat = waiting(svc, phone, 1, Channel.sms)
    listing = chat.send("WAIT")
    assert "Your waitlist" not in listing and "您的候补(1个)" in listing
    assert "您的候补(1个)" in chat.send("候补")
    cancel_by_the_other(svc)
    [offer] = offers_to(svc, phone)
    assert offer["channel"] == "sms"
    assert "候补成功" in chat.send("y")
    assert "您目前没有候补" in chat.send("wait")


def test_sms_leave(svc: Services) -> None:
    fill(svc, MORNING)
    chat = waiting(svc, "+8613900000001", 1, Channel.sms)
    assert "已退出候补" in chat.send("LEAVE 1")


def test_sms_waitlist_word_at_the_question_joins(svc: Services) -> None:
    fill(svc, MORNING)
    chat, _ = ready(svc, "+8613900000001", 1, Channel.sms)
    to_dates(chat)
    chat.send("1")
    chat.send("1")
    assert "已加入候补" in chat.send("WAIT")


def test_the_sms_adapter_reads_the_commands() -> None:
    assert parse("候补").command == parse("WAIT").command == parse("我的候补").command == "waitlist"
    assert parse("退出候补 2").command == parse("LEAVE 2").command == parse("leave #2").command == "leave 2"
    assert parse("改约 12345678").command == parse("MOVE 12345678").command == "move 12345678"
    assert parse("改约").command is None  # the words alone: the dialog asks which appointment


@pytest.mark.parametrize("lang", ["中文", "English"])
def test_every_waitlist_and_reschedule_reply_over_sms_fits_two_segments(svc: Services, lang: str) -> None:
    fill(svc, MORNING)
    phone = "+8613900000001"
    chat, pid = ready(svc, phone, 1, Channel.sms)
    chat.send(lang)
    to_dates(chat)
    chat.send("1")
    chat.send("1")
    chat.send("1")  # joined
    chat.send("WAIT")
    cancel_by_the_other(svc)
    chat.send("Y")  # booked from the waitlist
    clock(svc).advance(timedelta(minutes=1))
    chat.send("LIST")
    serial = svc.store.of_patient(pid)[-1].serial
    chat.send(f"MOVE {serial}")
    chat.send("1")
    chat.send("1")
    chat.send("Y")  # moved
    assert any("14:00" in reply for _, reply in chat.transcript[-1:]), chat.transcript[-1]
    for typed, reply in chat.transcript:
        for message in pack(reply.split("\n\n")):
            assert sms_segments(message) <= 2, f"{typed!r} -> {sms_segments(message)} segments:\n{message}"
