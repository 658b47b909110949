"""Transcripts of 就诊人管理: listing, adding a family member with a code sent to *their* phone, the account limit,
switching the active patient, removing one, limits following the person; Chinese and English, every slip re-asked."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.clock import ManualClock
from bot.patients import PatientView, account_id
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import Services, id_number, patient_name, phone_number

FAMILY = 7  # the family member added through the dialog: 张 + name 7, its own ID and phone


def acct_of(svc: Services, chat: Chat) -> str:
    return account_id(svc.box, chat.channel.value, chat.user)


def with_patients(svc: Services, chat: Chat, *numbers: int) -> list[PatientView]:
    """Give the chat's account these test patients (added directly, as if verified earlier)."""
    acct = acct_of(svc, chat)
    return [
        svc.patients.add_patient(acct, chat.channel.value, patient_name(n), id_number(n), phone_number(n))
        for n in numbers
    ]


def english(chat: Chat) -> Chat:
    chat.send("English")
    return chat


# --- entering ----------------------------------------------------------------------------------------------------


def test_an_account_without_patients_is_verified_first_then_sees_the_menu(svc: Services) -> None:
    chat = Chat(svc)
    reply = chat.send("4")
    assert "预约需实名认证" in reply and "请输入就诊人姓名" in reply
    assert "手机号已验证;身份证号校验通过" in (done := chat.verify(patient_name(1), id_number(1), phone_number(1)))
    assert "1. 预约挂号" in done, "then back to the main menu"
    assert len(svc.patients.patients_of(acct_of(svc, chat))) == 1


def test_listing_zh(svc: Services) -> None:
    chat = Chat(svc)
    first, second = with_patients(svc, chat, 1, 2)
    svc.patients.set_active(acct_of(svc, chat), second.pid)
    reply = chat.send("4")
    assert "您的就诊人:" in reply
    assert f"· 张* {first.id_masked} 139****0001\n" in reply
    assert f"· 张* {second.id_masked} 139****0002(当前)" in reply
    assert "请回复数字选择:\n1. 添加就诊人\n2. 切换就诊人\n3. 删除就诊人\n4. 返回主菜单" in reply
    assert id_number(1) not in reply and phone_number(1) not in reply, "personal data only masked"
    assert "1. 预约挂号" in chat.send("4"), "back to the menu"


def test_listing_en(svc: Services) -> None:
    chat = english(Chat(svc))
    first, _ = with_patients(svc, chat, 1, 2)
    reply = chat.send("patients")
    assert "Your patients:" in reply
    assert f"· 张* {first.id_masked} 139****0001 (current)" in reply, "the first added is active by default"
    assert "1. Add a patient\n2. Switch patient\n3. Remove a patient\n4. Back to menu" in reply
    assert "Reply with a number:\n1. Book" in chat.send("back to menu")


def test_listing_over_sms_is_short(svc: Services) -> None:
    chat = Chat(svc, Channel.sms, "+8613900000001")
    views = with_patients(svc, chat, 1, 2, 3, 4, 5)
    reply = chat.send("4")
    assert f"张* 证件尾号{views[0].id_masked[-4:]}(当前)" in reply
    assert views[0].id_masked not in reply and "139****" not in reply
    assert all(len(paragraph) <= 134 for paragraph in reply.split("\n\n")), "two SMS segments at most each"


# --- adding ------------------------------------------------------------------------------------------------------


def test_adding_a_family_member_end_to_end_zh(svc: Services) -> None:
    chat = Chat(svc)
    (me,) = with_patients(svc, chat, 1)
    chat.send("4")
    reply = chat.send("1")
    assert "添加就诊人:需验证其本人手机号" in reply and "请输入就诊人姓名" in reply
    assert "身份证号" in chat.send(patient_name(FAMILY))
    assert "手机号" in chat.send(id_number(FAMILY))
    assert "验证码已发送至 139****0007" in chat.send(phone_number(FAMILY))
    assert not svc.outbox.messages_for(phone_number(1)), "nothing goes to the account holder's phone"
    reply = chat.send(chat.last_code(phone_number(FAMILY)))
    assert "手机号已验证;身份证号校验通过:张*,139****0007" in reply
    assert "您的就诊人:" in reply and "1. 添加就诊人" in reply, "back to the patient list"
    views = svc.patients.patients_of(acct_of(svc, chat))
    assert [v.pid for v in views][0] == me.pid and len(views) == 2
    assert views[1].id_masked in reply


def test_adding_a_family_member_end_to_end_en(svc: Services) -> None:
    chat = english(Chat(svc))
    with_patients(svc, chat, 1)
    chat.send("4")
    reply = chat.send("add")
    assert "verify their own mobile number" in reply and "full name" in reply
    reply = chat.verify(patient_name(FAMILY), id_number(FAMILY), phone_number(FAMILY))
    assert "Phone verified; ID number format checked: 张*, 139****0007." in reply and "Your patients:" in reply
    assert len(svc.patients.patients_of(acct_of(svc, chat))) == 2


@pytest.mark.parametrize(("lang", "expected"), [("zh", "每个账号最多管理5位就诊人"), ("en", "at most 5 patients")])
def test_the_sixth_patient_is_refused_before_asking_anything(svc: Services, lang: str, expected: str) -> None:
    chat = Chat(svc)
    if lang == "en":
        english(chat)
    with_patients(svc, chat, 1, 2, 3, 4, 5)
    chat.send("4")
    reply = chat.send("1")
    assert expected in reply
    assert "1. " in reply and "4. " in reply, "the actions are offered again"
    assert ("切换为哪位就诊人?" if lang == "zh" else "Switch to which patient?") in chat.send("2"), "still here"
    assert len(svc.patients.patients_of(acct_of(svc, chat))) == 5


def test_the_limit_is_enforced_when_the_account_filled_up_meanwhile(svc: Services) -> None:
    chat = Chat(svc)
    with_patients(svc, chat, 1, 2, 3, 4)
    chat.send("4")
    chat.send("1")
    chat.send(patient_name(FAMILY))
    chat.send(id_number(FAMILY))
    chat.send(phone_number(FAMILY))
    with_patients(svc, chat, 5)  # added from elsewhere while the code was on its way
    reply = chat.send(chat.last_code(phone_number(FAMILY)))
    assert "每个账号最多管理5位就诊人" in reply
    assert "1. 添加就诊人" in reply, "back where the user came from"
    assert len(svc.patients.patients_of(acct_of(svc, chat))) == 5


def test_adding_a_family_member_over_sms_sends_the_code_to_their_phone(svc: Services) -> None:
    chat = Chat(svc, Channel.sms, "+8613900000001")
    with_patients(svc, chat, 1)
    chat.send("4")
    chat.send("1")
    chat.send(patient_name(FAMILY))
    assert "验证码已发送至 139****0007" in chat.send(id_number(FAMILY)) + chat.send(phone_number(FAMILY))


# --- switching ---------------------------------------------------------------------------------------------------


def test_switching_the_active_patient_zh(svc: Services) -> None:
    chat = Chat(svc)
    first, second, _ = with_patients(svc, chat, 1, 2, 3)
    acct = acct_of(svc, chat)
    chat.send("4")
    reply = chat.send("2")
    assert "切换为哪位就诊人?" in reply
    assert f"1. 张* 证件尾号{first.id_masked[-4:]}(当前)" in reply
    assert f"2. 张* 证件尾号{second.id_masked[-4:]}" in reply
    reply = chat.send("2")
    assert "当前就诊人已切换为张*" in reply
    assert f"· 张* {second.id_masked} 139****0002(当前)" in reply, "the list shows the new active patient"
    active = svc.patients.active(acct)
    assert active is not None and active.pid == second.pid


def test_switching_the_active_patient_en_by_id_tail(svc: Services) -> None:
    chat = english(Chat(svc))
    _, second = with_patients(svc, chat, 1, 2)
    chat.send("4")
    assert "Switch to which patient?" in chat.send("switch patient")
    assert "Now acting for 张*." in chat.send(second.id_masked[-4:])
    active = svc.patients.active(acct_of(svc, chat))
    assert active is not None and active.pid == second.pid


def test_switching_with_a_single_patient_says_there_is_nothing_to_switch(svc: Services) -> None:
    chat = Chat(svc)
    with_patients(svc, chat, 1)
    chat.send("4")
    reply = chat.send("2")
    assert "您只有一位就诊人" in reply and "1. 添加就诊人" in reply


# --- removing ----------------------------------------------------------------------------------------------------


def test_removing_asks_first_n_keeps_y_removes_zh(svc: Services) -> None:
    chat = Chat(svc)
    first, second = with_patients(svc, chat, 1, 2)
    acct = acct_of(svc, chat)
    chat.send("4")
    assert "删除哪位就诊人?" in chat.send("3")
    reply = chat.send("2")
    assert "确认删除张*?其预约和爽约记录仍归本人所有" in reply and "回复 Y 删除,N 保留" in reply
    assert "最后一位" not in reply
    reply = chat.send("N")
    assert "已保留张*" in reply and "您的就诊人:" in reply
    assert [v.pid for v in svc.patients.patients_of(acct)] == [first.pid, second.pid]
    chat.send("3")
    chat.send("2")
    reply = chat.send("y")
    assert "已删除张*" in reply and second.id_masked not in reply
    assert [v.pid for v in svc.patients.patients_of(acct)] == [first.pid]
    assert svc.patients.get(second.pid) is not None, "the person's record stays"


def test_removing_the_active_patient_en(svc: Services) -> None:
    chat = english(Chat(svc))
    first, second = with_patients(svc, chat, 1, 2)
    acct = acct_of(svc, chat)
    chat.send("4")
    chat.send("remove")
    reply = chat.send("1")
    assert "Remove 张*? Their appointments and no-show record stay with them. Reply Y to remove" in reply
    reply = chat.send("yes")
    assert "Removed 张*." in reply and f"{second.id_masked} 139****0002 (current)" in reply
    active = svc.patients.active(acct)
    assert active is not None and active.pid == second.pid
    assert first.pid not in [v.pid for v in svc.patients.patients_of(acct)]


def test_removing_the_last_patient_means_verifying_again_to_book(svc: Services) -> None:
    chat = Chat(svc)
    with_patients(svc, chat, 1)
    chat.send("4")
    chat.send("3")
    assert "这是最后一位就诊人,删除后需重新实名认证" in chat.send("1")
    reply = chat.send("是")
    assert "已删除张*。预约前需重新实名认证" in reply and "1. 预约挂号" in reply
    assert svc.patients.patients_of(acct_of(svc, chat)) == []
    assert "预约需实名认证" in chat.send("1"), "booking asks for verification again"


def test_limits_follow_the_person_not_the_account(svc: Services) -> None:
    mum = Chat(svc, user="openid-mum")
    (person,) = with_patients(svc, mum, 2)
    suspended = svc.standing.flag(person.pid, date(2026, 12, 31), "malicious booking", "staff")
    mum.send("4")
    mum.send("3")
    mum.send("1")
    mum.send("Y")
    assert svc.patients.patients_of(acct_of(svc, mum)) == []
    son = Chat(svc, user="openid-son")
    with_patients(svc, son, 1)
    son.send("4")
    son.send("1")
    assert "手机号已验证;身份证号校验通过" in son.verify(patient_name(2), id_number(2), phone_number(2))
    pids = [v.pid for v in svc.patients.patients_of(acct_of(svc, son))]
    assert person.pid in pids, "the same ID number is the same patient"
    assert svc.standing.standing(person.pid).suspended_until == suspended.suspended_until == date(2026, 12, 31)


# --- unexpected answers ------------------------------------------------------------------------------------------


def test_unexpected_answers_are_asked_again_zh(svc: Services) -> None:
    chat = Chat(svc)
    with_patients(svc, chat, 1, 2)
    chat.send("4")
    reply = chat.send("9")
    assert "没有找到“9”" in reply and "1. 添加就诊人" in reply
    reply = chat.send("随便")
    assert "没有找到“随便”" in reply and "4. 返回主菜单" in reply
    chat.send("3")
    reply = chat.send("张")
    assert "都符合,请回复序号" in reply and "删除哪位就诊人?" in reply
    reply = chat.send("5")
    assert "没有找到“5”" in reply and "2. 张*" in reply
    chat.send("1")
    assert "请回复 Y 删除张*,或 N 保留" in chat.send("也许")
    assert "请回复 Y 删除张*,或 N 保留" in chat.send("1"), "an option number is no answer to Y/N (issue 13)"
    assert len(svc.patients.patients_of(acct_of(svc, chat))) == 2


def test_unexpected_answers_are_asked_again_en(svc: Services) -> None:
    chat = english(Chat(svc))
    with_patients(svc, chat, 1, 2)
    chat.send("4")
    reply = chat.send("what")
    assert '"what" is not in the list' in reply and "1. Add a patient" in reply
    chat.send("2")
    reply = chat.send("0")
    assert '"0" is not in the list' in reply and "Switch to which patient?" in reply
    chat.send("menu")
    chat.send("4")
    chat.send("3")
    chat.send("2")
    assert "Reply Y to remove 张*, or N to keep them." in chat.send("perhaps")
    assert "Kept 张*." in chat.send("n")


def test_the_session_expires_like_any_other_step(svc: Services) -> None:
    chat = Chat(svc)
    with_patients(svc, chat, 1)
    chat.send("4")
    assert isinstance(svc.clock, ManualClock)
    svc.clock.advance(timedelta(minutes=31))
    reply = chat.send("1")
    assert "30分钟" in reply and "1. 预约挂号" in reply, "an idle step starts over at the menu, nothing added"
