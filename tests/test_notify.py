"""The outbox and the console sender against a real Redis: order, phone forms, idempotency, nothing in clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from adapters.console.sender import ConsoleSender
from bot.clock import ManualClock
from bot.crypto import SecretBox
from bot.notifications.outbox import OutboundMessage, Outbox, OutboxKind, SendLedger, SendResult, recipient
from bot.storage import keys
from tests.pii_scan import assert_no_pii

START = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox("x" * 40)


@pytest.fixture
def outbox(redis_db: redis.Redis, box: SecretBox, clock: ManualClock) -> Outbox:
    return Outbox(redis_db, box, clock, ZoneInfo("Asia/Shanghai"))


def test_record_and_read(outbox: Outbox, clock: ManualClock) -> None:
    outbox.record(OutboundMessage("wechat", OPENID, OutboxKind.confirmation, "预约成功 张*"))
    clock.advance(timedelta(minutes=1))
    outbox.record(OutboundMessage("wechat", OPENID, OutboxKind.reminder, "明天就诊"))
    outbox.record(OutboundMessage("wechat", "someone-else", OutboxKind.reminder, "not yours"))
    assert outbox.messages_for(OPENID) == [
        {
            "channel": "wechat",
            "to": OPENID,
            "kind": "confirmation",
            "text": "预约成功 张*",
            "at": "2024-05-06T10:00:00+08:00",
        },
        {"channel": "wechat", "to": OPENID, "kind": "reminder", "text": "明天就诊", "at": "2024-05-06T10:01:00+08:00"},
    ]
    assert outbox.messages_for("nobody") == []


def test_at_is_utc_without_a_zone(redis_db: redis.Redis, box: SecretBox, clock: ManualClock) -> None:
    plain = Outbox(redis_db, box, clock)
    plain.record(OutboundMessage("sms", "13812345678", OutboxKind.otp, "x"))
    assert plain.messages_for("13812345678")[0]["at"] == "2024-05-06T02:00:00+00:00"


@pytest.mark.parametrize("written", ["13812345678", "+8613812345678", "8613812345678", " +86 138 1234 5678 "])
def test_phone_forms_find_the_same_messages(outbox: Outbox, written: str) -> None:
    outbox.record(OutboundMessage("sms", written, OutboxKind.reminder, "r"))
    for asked in ["13812345678", "+8613812345678", "8613812345678"]:
        [message] = outbox.messages_for(asked)
        assert message["to"] == "+8613812345678"


def test_order_holds_for_many_messages(outbox: Outbox) -> None:
    for i in range(30):
        outbox.record(OutboundMessage("sms", "13812345678", OutboxKind.broadcast, str(i)))
    assert [m["text"] for m in outbox.messages_for("13812345678")] == [str(i) for i in range(30)]


def test_recipient() -> None:
    assert recipient("sms", "8613812345678") == "+8613812345678"
    assert recipient("sms", "+14155550100") == "+14155550100"  # not a mainland mobile: kept as given
    assert recipient("wechat", f" {OPENID} ") == OPENID


def test_nothing_in_clear(outbox: Outbox, redis_db: redis.Redis) -> None:
    outbox.record(OutboundMessage("sms", "13812345678", OutboxKind.confirmation, "张三 您好,识别码 12345678"))
    raw = redis_db.xrange(keys.OUTBOX, "-", "+")
    assert set(raw[0][1]) == {b"channel", b"to_enc", b"to_hash", b"kind", b"text_enc", b"at"}
    assert_no_pii(redis_db, ["13812345678", "张三"])


def test_console_sender_records(outbox: Outbox) -> None:
    sender = ConsoleSender(outbox)
    result = sender.send(OutboundMessage("sms", "13812345678", OutboxKind.reminder, "明天"))
    assert result.ok and result.provider_id and result.error is None
    assert [m["text"] for m in outbox.messages_for("+8613812345678")] == ["明天"]


def test_idempotency_key(outbox: Outbox, redis_db: redis.Redis) -> None:
    sender = ConsoleSender(outbox)
    message = OutboundMessage("wechat", OPENID, OutboxKind.reminder, "明天", idempotency_key="reminder:12345678:day")
    first = sender.send(message)
    second = sender.send(message)
    assert second == first
    assert len(outbox.messages_for(OPENID)) == 1
    sent_keys = list(redis_db.scan_iter(match=keys.sent("*")))
    assert len(sent_keys) == 1
    assert b"12345678" not in sent_keys[0]  # the key is hashed
    assert 0 < redis_db.ttl(sent_keys[0]) <= 3 * 24 * 3600
    other = OutboundMessage("wechat", OPENID, OutboxKind.reminder, "明天", idempotency_key="reminder:12345678:start")
    assert sender.send(other) != first
    assert len(outbox.messages_for(OPENID)) == 2
    sender.send(OutboundMessage("wechat", OPENID, OutboxKind.reply, "no key"))
    sender.send(OutboundMessage("wechat", OPENID, OutboxKind.reply, "no key"))
    assert len(outbox.messages_for(OPENID)) == 4


def test_a_send_in_flight_is_not_repeated(outbox: Outbox, redis_db: redis.Redis, box: SecretBox) -> None:
    ledger = SendLedger(redis_db, box)
    assert ledger.claim("k") is None  # another worker is sending it
    sender = ConsoleSender(outbox, ledger)
    result = sender.send(OutboundMessage("sms", "13812345678", OutboxKind.reminder, "x", idempotency_key="k"))
    assert result == SendResult(ok=True, provider_id=None, error=None)
    assert outbox.messages_for("13812345678") == []


def test_a_failed_or_raising_send_can_be_retried(outbox: Outbox, redis_db: redis.Redis, box: SecretBox) -> None:
    ledger = SendLedger(redis_db, box)
    assert ledger.claim("k") is None
    ledger.settle("k", SendResult(ok=False, error="boom"))
    assert ledger.claim("k") is None  # released
    ledger.release("k")

    class Broken(Outbox):
        def record(self, message: OutboundMessage) -> str:
            raise RuntimeError("redis went away")

    broken = ConsoleSender(Broken(redis_db, box, ManualClock(START)), ledger)
    message = OutboundMessage("sms", "13812345678", OutboxKind.reminder, "x", idempotency_key="k")
    with pytest.raises(RuntimeError):
        broken.send(message)
    assert ConsoleSender(outbox, ledger).send(message).provider_id is not None
    assert len(outbox.messages_for("13812345678")) == 1
