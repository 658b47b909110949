"""Every global command (SPEC §5) from every state of every dialog, in Chinese and English."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from bot.booking import BookingRefused
from bot.clock import ManualClock
from bot.patients import account_id
from bot.storage import keys
from dialogs.registry import all_dialogs
from tests.dialog_support import Chat
from tests.support import NOW, Services, id_number, patient_name, phone_number, slot_of

TOMORROW = NOW.date() + timedelta(days=1)

# state -> (needs a verified account with two patients and two appointments, messages that lead there)
PATHS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "menu.main": (False, ("菜单",)),
    "verify.name": (False, ("1",)),
    "verify.id_number": (False, ("1", "张三")),
    "verify.phone": (False, ("1", "张三", id_number(90))),
    "verify.code": (False, ("1", "张三", id_number(90), "13900000090")),
    "book.patient": (True, ("1",)),
    "book.hospital": (True, ("1", "1")),
    "book.department": (True, ("1", "1", "1")),
    "book.date": (True, ("1", "1", "1", "内科")),
    "book.slot": (True, ("1", "1", "1", "内科", "2")),
    "book.confirm": (True, ("1", "1", "1", "内科", "2", "1")),
    "cancel.choose": (True, ("3",)),
    "cancel.confirm": (True, ("3", "1")),
    "patients.overview": (True, ("4",)),
    "patients.pick_active": (True, ("4", "2")),
    "patients.pick_remove": (True, ("4", "3")),
    "patients.confirm_remove": (True, ("4", "3", "1")),
    "reschedule.choose": (True, ("改约",)),
    "reschedule.date": (True, ("改约", "1")),
    "reschedule.slot": (True, ("改约", "1", "1")),
    "reschedule.confirm": (True, ("改约", "1", "1", "1")),
    "waitlist.joining": (True, ("1", "1", "1", "内科", "1", "1")),  # the morning of 24 Nov is full (see reach)
}


def test_the_paths_cover_every_state_of_every_dialog() -> None:
    every = {f"{name}.{state.value}" for name, dialog in all_dialogs().items() for state in dialog.states}
    # the listings show the list and return to the menu at once: there is no answer to wait for
    assert every - set(PATHS) == {"appointments.listing", "waitlist.listing"}


def reach(svc: Services, state: str, english: bool, tag: str = "") -> Chat:
    verified, path = PATHS[state]
    chat = Chat(svc, user=f"openid-{state}-{english}-{tag}")
    assert isinstance(svc.clock, ManualClock)
    svc.clock.advance(timedelta(minutes=2))  # a fresh minute for the rate limit, and for the SMS code limit
    if verified:
        acct = account_id(svc.box, "wechat", chat.user)
        for n in (91, 92):
            patient = svc.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone_number(n))
            with contextlib.suppress(BookingRefused):  # booked already by an earlier chat of the same person
                svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "wk" if n == 91 else "ek", TOMORROW))
    if state == "waitlist.joining":  # h1 内科 on 24 Nov in the morning full: choosing it offers its waitlist
        slot = slot_of("h1", "nk", TOMORROW)
        svc.redis.hset(keys.slot(slot), "capacity", svc.redis.hget(keys.slot(slot), "taken") or 0)
    if english:
        chat.send("English")
    for typed in path:
        chat.send(typed)
    assert current_state(svc, chat) == state, chat.transcript[-1]
    return chat


def current_state(svc: Services, chat: Chat) -> str:
    raw = svc.redis.hget(keys.session(account_id(svc.box, "wechat", chat.user)), "state")
    return raw.decode() if raw else ""


MENU = {False: "1. 预约挂号", True: "1. Book an appointment"}


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
@pytest.mark.parametrize("state", sorted(PATHS))
def test_menu_and_exit_leave_for_the_menu(svc: Services, state: str, english: bool) -> None:
    for command in ("菜单", "menu", "退出", "exit"):
        chat = reach(svc, state, english, command)
        reply = chat.send(command)
        assert MENU[english] in reply, (command, reply)
        assert current_state(svc, chat) == "menu.main"
        if command in ("退出", "exit") and state != "menu.main":
            assert ("已退出当前步骤" if not english else "You left that step") in reply


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
@pytest.mark.parametrize("state", sorted(PATHS))
def test_help_and_language_keep_the_step(svc: Services, state: str, english: bool) -> None:
    chat = reach(svc, state, english)
    reply = chat.send("帮助" if not english else "help")
    assert ("随时可回复" if not english else "At any time reply") in reply
    assert current_state(svc, chat) == state, "help does not leave the step"
    switched = chat.send("中文" if english else "English")
    assert ("已切换为中文" if english else "Switched to English") in switched
    assert current_state(svc, chat) == state, "a language switch does not leave the step"
