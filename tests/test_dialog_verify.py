"""Transcripts: first contact, verification in Chinese and English, every mistake explained, SMS without a code."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from bot.patients import account_id
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import Services, id_number

PHONE = "13912345678"


def test_subscribe_gets_welcome_and_menu(svc: Services) -> None:
    reply = Chat(svc).event("subscribe")
    assert "欢迎" in reply and "1. 预约挂号" in reply and "5. 帮助" in reply


def test_first_time_user_is_verified_before_booking_zh(svc: Services) -> None:
    chat = Chat(svc)
    assert "请输入就诊人姓名" in chat.send("1")
    assert "请输入张*的18位居民身份证号" in chat.send("张三")
    assert "身份证号应为18位" in chat.send("1101051980")
    assert "出生日期无效" in chat.send("110105198002300011")
    assert "校验位不正确" in chat.send(id_number(1)[:-1] + ("0" if id_number(1)[-1] != "0" else "1"))
    assert "请输入就诊人的手机号" in chat.send(id_number(1))
    assert "1开头的11位数字" in chat.send("12345")
    assert "验证码已发送至 139****5678" in chat.send(PHONE)
    assert "验证码不正确,还可尝试4次" in chat.send("000000")
    reply = chat.send(chat.last_code(PHONE))
    assert "手机号已验证;身份证号校验通过:张*,139****5678" in reply
    assert len(svc.patients.patients_of(account_id(svc.box, "wechat", chat.user))) == 1


def test_verification_in_english(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("English")
    assert "full name" in chat.send("1")
    assert "resident ID number" in chat.send("Li Lei")
    assert "mobile number" in chat.send(id_number(2))
    assert "A code was sent to 139****5678" in chat.send(PHONE)
    assert "Phone verified; ID number format checked: L*" in chat.send(chat.last_code(PHONE))


def test_code_expires_and_can_be_resent(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    chat.send("张三")
    chat.send(id_number(1))
    chat.send(PHONE)
    old = chat.last_code(PHONE)
    assert isinstance(svc.clock, ManualClock)
    assert "请60秒后再试" in chat.send("重发")  # at once: refused, saying how long to wait
    svc.clock.advance(timedelta(seconds=45))
    assert "请15秒后再试" in chat.send("重发")
    svc.clock.advance(timedelta(minutes=6))
    assert "验证码已过期" in chat.send(old)
    assert "验证码已发送" in chat.send("重发")
    assert "手机号已验证;身份证号校验通过" in chat.send(chat.last_code(PHONE))


def test_five_wrong_codes_burn_it(svc: Services) -> None:
    chat = Chat(svc)
    for typed in ("1", "张三", id_number(1), PHONE):
        chat.send(typed)
    replies = [chat.send("000000") for _ in range(5)]
    assert "错误次数过多" in replies[-1]
    assert "错误次数过多" in chat.send(chat.last_code(PHONE)), "the burnt code no longer works"


def test_sms_user_is_verified_by_the_channel(svc: Services) -> None:
    chat = Chat(svc, Channel.sms, "+8613900000001")
    chat.send("1")
    chat.send("王五")
    reply = chat.send(id_number(3))
    assert "手机号已验证;身份证号校验通过:王*,139****0001" in reply
    assert not svc.outbox.messages_for("+8613900000001"), "no code needed over SMS"


def test_the_same_id_with_another_name_is_refused(svc: Services) -> None:
    first = Chat(svc, Channel.sms, "+8613900000001")
    for typed in ("1", "王五", id_number(3)):
        first.send(typed)
    other = Chat(svc, Channel.sms, "+8613900000002")
    for typed in ("1", "李四"):
        other.send(typed)
    assert "姓名与已登记的证件信息不符" in other.send(id_number(3))


def test_a_registered_person_is_confirmed_by_their_registered_phone(svc: Services) -> None:
    owner = Chat(svc, Channel.wechat, "openid-owner")
    for typed in ("1", "赵六", id_number(4), "13900000004"):
        owner.send(typed)
    assert "手机号已验证;身份证号校验通过" in owner.send(owner.last_code("13900000004"))

    assert isinstance(svc.clock, ManualClock)
    svc.clock.advance(timedelta(minutes=2))
    stranger = Chat(svc, Channel.wechat, "openid-stranger")
    stranger.send("1")
    stranger.send("赵六")
    reply = stranger.send(id_number(4))
    assert "已登记手机号 139****0004" in reply and "验证码已发送至 139****0004" in reply, "no phone is asked for"
    assert "验证码是6位数字" in stranger.send("13911111111")
    assert "验证码不正确,还可尝试4次" in stranger.send("139111")
    pid = svc.box.lookup_hash(id_number(4), kind="id")
    assert svc.patients.phone_of(pid) == "+8613900000004", "a stranger's phone never replaces the registered one"
    assert not svc.patients.patients_of(account_id(svc.box, "wechat", "openid-stranger"))

    svc.clock.advance(timedelta(minutes=2))
    sms_stranger = Chat(svc, Channel.sms, "+8613922222222")
    sms_stranger.send("1")
    sms_stranger.send("赵六")
    reply = sms_stranger.send(id_number(4))
    assert "验证码已发送至 139****0004" in reply, "over SMS too, the registered phone confirms"

    # the registered phone's own SMS account already acts for the person (cross-channel), no verification needed
    assert [p.pid for p in svc.patients.patients_of(account_id(svc.box, "sms", "13900000004"))] == [pid]


def _at_the_code_step(svc: Services) -> Chat:
    chat = Chat(svc)
    for typed in ("1", "张三", id_number(1), PHONE):
        chat.send(typed)
    return chat


def test_a_code_of_the_wrong_format_gets_a_hint_and_keeps_the_try(svc: Services) -> None:
    chat = _at_the_code_step(svc)
    for typed in ("12345", "1234567", "一二三", "１２３４５", "abc"):
        reply = chat.send(typed)
        assert "验证码是6位数字" in reply and "还可尝试" not in reply, typed
    assert "验证码不正确,还可尝试4次" in chat.send("000000" if chat.last_code(PHONE) != "000000" else "111111")
    assert "验证码是6位数字" in chat.send("5678")
    assert "手机号已验证;身份证号校验通过" in chat.send(chat.last_code(PHONE))


def test_a_code_in_chinese_numerals_is_accepted(svc: Services) -> None:
    chat = _at_the_code_step(svc)
    spelled = "".join("零一二三四五六七八九"[int(d)] for d in chat.last_code(PHONE))
    assert "手机号已验证;身份证号校验通过" in chat.send(spelled)


def test_a_full_width_code_is_accepted_in_english(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("English")
    for typed in ("1", "Li Lei", id_number(2), PHONE):
        chat.send(typed)
    assert "The code is 6 digits" in chat.send("12345")
    assert "try again in 60 seconds" in chat.send("resend")
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in chat.last_code(PHONE))
    assert "Phone verified; ID number format checked" in chat.send(full_width)


def test_the_hourly_code_limit_says_how_many_minutes_to_wait(svc: Services) -> None:
    chat = _at_the_code_step(svc)  # code 1 at 0 s
    assert isinstance(svc.clock, ManualClock)
    for _ in range(4):  # codes 2 to 5, a minute apart
        svc.clock.advance(timedelta(seconds=61))
        assert "验证码已发送" in chat.send("重发")
    svc.clock.advance(timedelta(seconds=61))  # 305 s after the first: it leaves the hour at 3600 s
    assert "请55分钟后再试" in chat.send("重发")
