"""One-time codes against a real Redis: single use, bounded tries, expiry and send limits on the injected clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

import rules
from adapters.console.sender import ConsoleSender
from bot.clock import ManualClock
from bot.crypto import SecretBox
from bot.notifications.outbox import OutboundMessage, Outbox, OutboxKind, SendResult
from bot.otp import OtpDeliveryError, OtpRateLimitedError, OtpResult, OtpService, otp_text
from bot.patients import InvalidInputError
from tests.pii_scan import assert_no_pii, stored_blobs

PHONE = "13812345678"
START = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox("x" * 40)


@pytest.fixture
def outbox(redis_db: redis.Redis, box: SecretBox, clock: ManualClock) -> Outbox:
    return Outbox(redis_db, box, clock)


@pytest.fixture
def otp(redis_db: redis.Redis, box: SecretBox, clock: ManualClock, outbox: Outbox) -> OtpService:
    return OtpService(redis_db, box, clock, rules.build_policy(), ConsoleSender(outbox))


def last_code(outbox: Outbox, phone: str = PHONE) -> str:
    """The code of the newest OTP message to ``phone``, read the way a user reads it."""
    messages = [m for m in outbox.messages_for(phone) if m["kind"] == "otp"]
    assert messages, "no code was sent"
    found = re.search(r"验证码是 (\d+)", messages[-1]["text"])
    assert found is not None, messages[-1]["text"]
    return found.group(1)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_send_and_verify(otp: OtpService, outbox: Outbox) -> None:
    sent = otp.send(PHONE, "verify")
    assert sent.phone_masked == "138****5678"
    assert sent.expires_at == START + timedelta(minutes=5)
    assert sent.resend_at == START + timedelta(seconds=60)
    [message] = outbox.messages_for("+8613812345678")
    assert message["channel"] == "sms"
    assert message["to"] == "+8613812345678"
    assert message["kind"] == "otp"
    assert message["text"].startswith("【挂号】您的验证码是 ")
    assert "5分钟内有效" in message["text"]
    code = last_code(outbox)
    assert len(code) == 6
    assert otp.verify("+86" + PHONE, "verify", code) is OtpResult.ok


def test_a_code_works_once(otp: OtpService, outbox: Outbox) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    assert otp.verify(PHONE, "verify", code) is OtpResult.ok
    assert otp.verify(PHONE, "verify", code) is OtpResult.none


def test_codes_are_bound_to_phone_and_purpose(otp: OtpService, outbox: Outbox) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    assert otp.verify(PHONE, "add_patient", code) is OtpResult.none
    assert otp.verify("13987654321", "verify", code) is OtpResult.none
    assert otp.verify(PHONE, "verify", code) is OtpResult.ok


def test_full_width_digits_and_spaces_are_accepted(otp: OtpService, outbox: Outbox) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    full_width = " " + code.translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "　\n"
    assert otp.verify(PHONE, "verify", full_width) is OtpResult.ok


def test_five_wrong_tries_burn_the_code(otp: OtpService, outbox: Outbox) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    wrong = other_code(code)
    assert [otp.verify(PHONE, "verify", wrong) for _ in range(4)] == [OtpResult.wrong] * 4
    assert otp.verify(PHONE, "verify", wrong) is OtpResult.too_many_attempts
    assert otp.verify(PHONE, "verify", code) is OtpResult.too_many_attempts  # burnt: even the right one fails


def test_a_new_code_after_a_burnt_one(otp: OtpService, outbox: Outbox, clock: ManualClock) -> None:
    otp.send(PHONE, "verify")
    wrong = other_code(last_code(outbox))
    for _ in range(5):
        otp.verify(PHONE, "verify", wrong)
    clock.advance(timedelta(seconds=60))
    otp.send(PHONE, "verify")
    assert otp.verify(PHONE, "verify", last_code(outbox)) is OtpResult.ok


def test_malformed_codes_do_not_use_up_tries(otp: OtpService, outbox: Outbox) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    for attempt in ["abc", "12345", "1234567", "", "１２３", "一二三"] * 3:
        assert otp.verify(PHONE, "verify", attempt) is OtpResult.malformed
    assert otp.verify(PHONE, "verify", code) is OtpResult.ok


CHINESE = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


@pytest.mark.parametrize(
    "spell",
    [
        lambda code: "".join(CHINESE[d] for d in code),  # 一二三四五六
        lambda code: "".join(chr(ord(d) + 0xFEE0) for d in code),  # full-width １２３４５６
        lambda code: f"{code[:3]} {code[3:]}",
        lambda code: code.replace("0", "〇"),
    ],
)
def test_a_code_in_chinese_numerals_or_full_width_digits_is_the_code(
    otp: OtpService, outbox: Outbox, spell: Callable[[str], str]
) -> None:
    otp.send(PHONE, "verify")
    assert otp.verify(PHONE, "verify", spell(last_code(outbox))) is OtpResult.ok


def test_expiry_follows_the_injected_clock(otp: OtpService, outbox: Outbox, clock: ManualClock) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    clock.advance(timedelta(seconds=299))
    assert otp.verify(PHONE, "verify", other_code(code)) is OtpResult.wrong
    clock.advance(timedelta(seconds=1))
    assert otp.verify(PHONE, "verify", code) is OtpResult.expired
    assert otp.verify(PHONE, "verify", code) is OtpResult.none


def test_nothing_sent(otp: OtpService) -> None:
    assert otp.verify(PHONE, "verify", "123456") is OtpResult.none


def test_resend_within_a_minute_is_refused(otp: OtpService, outbox: Outbox, clock: ManualClock) -> None:
    otp.send(PHONE, "verify")
    first = last_code(outbox)
    clock.advance(timedelta(seconds=59))
    with pytest.raises(OtpRateLimitedError) as caught:
        otp.send("+86" + PHONE, "add_patient")  # per phone, whatever the purpose
    assert caught.value.retry_after == START + timedelta(seconds=60)
    assert caught.value.reason == "resend"
    assert len(outbox.messages_for(PHONE)) == 1
    clock.advance(timedelta(seconds=1))
    otp.send(PHONE, "verify")
    second = last_code(outbox)
    assert otp.verify(PHONE, "verify", first) in {OtpResult.wrong, OtpResult.ok}
    if first != second:  # the new code replaced the old one
        assert otp.verify(PHONE, "verify", second) is OtpResult.ok


def test_at_most_five_per_rolling_hour(otp: OtpService, clock: ManualClock) -> None:
    for _ in range(5):
        otp.send(PHONE, "verify")
        clock.advance(timedelta(minutes=2))
    with pytest.raises(OtpRateLimitedError) as caught:
        otp.send(PHONE, "verify")
    assert caught.value.reason == "hourly"
    assert caught.value.retry_after == START + timedelta(hours=1)
    clock.set(START + timedelta(minutes=59, seconds=59))
    with pytest.raises(OtpRateLimitedError):
        otp.send(PHONE, "verify")
    clock.set(START + timedelta(hours=1))
    otp.send(PHONE, "verify")  # the first send left the window
    with pytest.raises(OtpRateLimitedError) as caught:
        clock.advance(timedelta(minutes=1))
        otp.send(PHONE, "verify")
    assert caught.value.retry_after == START + timedelta(minutes=62)  # the second send leaves it next
    otp.send("13987654321", "verify")  # another phone has its own limits


def test_codes_are_stored_hashed(otp: OtpService, outbox: Outbox, redis_db: redis.Redis) -> None:
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    assert not any(code.encode() in blob for _, blob in stored_blobs(redis_db))
    assert_no_pii(redis_db, [PHONE])


def test_bad_phone(otp: OtpService) -> None:
    with pytest.raises(InvalidInputError) as caught:
        otp.send("12345", "verify")
    assert caught.value.field == "phone"
    with pytest.raises(InvalidInputError):
        otp.verify("12345", "verify", "123456")


class RefusingSender:
    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(ok=False, provider_id=None, error="21610")


def test_delivery_failure(redis_db: redis.Redis, box: SecretBox, clock: ManualClock) -> None:
    sender = RefusingSender()
    otp = OtpService(redis_db, box, clock, rules.build_policy(), sender)
    with pytest.raises(OtpDeliveryError) as caught:
        otp.send(PHONE, "verify")
    assert caught.value.result.error == "21610"
    assert [(m.channel, m.to, m.kind) for m in sender.sent] == [("sms", "+8613812345678", OutboxKind.otp)]


def test_policy_length_and_ttl(redis_db: redis.Redis, box: SecretBox, clock: ManualClock, outbox: Outbox) -> None:
    policy = rules.build_policy(overrides={"otp_length": 4, "otp_ttl_seconds": 600, "otp_max_attempts": 2})
    otp = OtpService(redis_db, box, clock, policy, ConsoleSender(outbox))
    otp.send(PHONE, "verify")
    code = last_code(outbox)
    assert len(code) == 4
    assert "10分钟内有效" in outbox.messages_for(PHONE)[-1]["text"]
    assert otp.verify(PHONE, "verify", other_code(code)) is OtpResult.wrong
    assert otp.verify(PHONE, "verify", other_code(code)) is OtpResult.too_many_attempts


def test_english_text() -> None:
    assert otp_text("123456", 300, "en") == (
        "[Guahao] Your verification code is 123456, valid for 5 minutes. Do not share it."
    )
    assert otp_text("123456", 30) == "【挂号】您的验证码是 123456,1分钟内有效。请勿告诉他人。"
