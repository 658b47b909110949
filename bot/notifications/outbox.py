"""Outbound messages that are not passive replies (SMS codes, confirmations, reminders, broadcasts).

A :class:`Sender` per channel delivers an :class:`OutboundMessage`. :class:`Outbox` is a Redis stream the simulator
and tests read, which the console senders (``adapters/console/sender.py``) deliver into instead of a real provider.
Recipients and texts are stored encrypted: a text may hold a code or a name, a recipient is an openid or a phone
number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from enum import StrEnum
from typing import Any, Protocol, cast

import redis

import rules
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.records import decode_hash
from bot.storage import keys

OUTBOX_MAXLEN = 100_000
"""The outbox stream is trimmed (approximately) to this many messages."""

OUTBOX_PER_RECIPIENT = 1_000
"""At most this many messages are indexed per recipient (the newest)."""

SENT_TTL = timedelta(days=3)
"""How long an idempotency key is remembered."""

_TO_CONTEXT = "outbox.to"
_TEXT_CONTEXT = "outbox.text"
_PENDING = "pending"
NO_TEMPLATE = "no_template"
"""A send refused before any request: the SMS provider has no template for the message's kind (an optional kind
not filed yet, ``bot.config.OPTIONAL_TEMPLATE_KINDS``)."""


class OutboxKind(StrEnum):
    """What an outbound message is (SPEC §6)."""

    otp = "otp"
    confirmation = "confirmation"
    reminder = "reminder"
    broadcast = "broadcast"
    cancellation = "cancellation"
    no_show = "no_show"  # a no-show was recorded (SPEC §8)
    lottery = "lottery"  # the outcome of a release lottery (SPEC §8): booked with details, or not drawn
    offer = "offer"  # a waitlist place held for the patient: reply Y in time (SPEC §8)
    waitlist_skipped = "waitlist_skipped"  # a freed place passed over a waiter the booking rules no longer allow
    rescheduled = "rescheduled"  # an appointment moved (SPEC §8)
    reply = "reply"  # a reply pushed later as a customer-service message


@dataclass(frozen=True)
class OutboundMessage:
    """One message to push: ``to`` is a WeChat openid or a phone (any accepted form; E.164 once stored).

    ``idempotency_key`` (no personal data in it, e.g. ``reminder:<serial>:<kind>``) makes a retried send a no-op.
    ``facts`` is the notice as data (serial, date, start, masked patient name, code…): what a provider that sends
    approved templates only (Aliyun, Tencent Cloud) fills its variables from, instead of ``text``.
    """

    channel: str  # "wechat" | "sms"
    to: str
    kind: OutboxKind
    text: str
    idempotency_key: str | None = None
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What a provider said: accepted (with its message id) or refused (with an error code or message)."""

    ok: bool
    provider_id: str | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        """Whether trying again cannot help (no template for its kind): the notice is given up, undeliverable."""
        return self.error == NO_TEMPLATE


class Sender(Protocol):
    """Delivers outbound messages of one or more channels."""

    def send(self, message: OutboundMessage) -> SendResult: ...


def recipient(channel: str, to: str) -> str:
    """The stored form of a recipient: SMS numbers in E.164 (when they are mainland mobiles), openids as given."""
    to = to.strip()
    if channel == "sms":
        return rules.normalize_mobile(to) or to
    return to


def _lookup_form(to: str) -> str:
    """The form a recipient is indexed under, whatever the channel: any mainland mobile form gives E.164."""
    to = to.strip()
    return rules.normalize_mobile(to) or to


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Outbox:
    """The messages console senders pushed, in a Redis stream indexed per recipient (by keyed hash)."""

    def __init__(self, redis_client: redis.Redis, box: SecretBox, clock: Clock, tz: tzinfo | None = None) -> None:
        self.redis = redis_client
        self.box = box
        self._clock = clock
        self._tz = tz

    def _to_hash(self, to: str) -> str:
        return self.box.lookup_hash(_lookup_form(to), kind="outbox")

    def record(self, message: OutboundMessage) -> str:
        """Append ``message`` to the outbox and return its stream id."""
        to = recipient(message.channel, message.to)
        to_hash = self._to_hash(to)
        now = self._clock.now()
        at = now.astimezone(self._tz) if self._tz is not None else now
        fields: dict[Any, Any] = {
            "channel": message.channel,
            "to_enc": self.box.encrypt(to, context=_TO_CONTEXT),
            "to_hash": to_hash,
            "kind": str(message.kind),
            "text_enc": self.box.encrypt(message.text, context=_TEXT_CONTEXT),
            "at": at.isoformat(),
        }
        stream_id = _text(self.redis.xadd(keys.OUTBOX, fields, maxlen=OUTBOX_MAXLEN, approximate=True))
        ms, _, seq = stream_id.partition("-")
        index = keys.outbox_of(to_hash)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(index, {stream_id: int(ms) * 1000 + min(int(seq or 0), 999)})
        pipe.zremrangebyrank(index, 0, -(OUTBOX_PER_RECIPIENT + 1))
        pipe.execute()
        return stream_id

    def messages_for(self, to: str) -> list[dict[str, str]]:
        """Everything recorded for ``to`` (an openid, or a phone in any form), oldest first."""
        raw_ids = cast("list[bytes | str]", self.redis.zrange(keys.outbox_of(self._to_hash(to)), 0, -1))
        ids = [_text(i) for i in raw_ids]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for stream_id in ids:
            pipe.xrange(keys.OUTBOX, stream_id, stream_id)
        return [self._read(entries[0][1]) for entries in pipe.execute() if entries]  # trimmed ones skipped

    def latest_id(self) -> str:
        """The stream id of the newest message (``0-0`` when empty): read :meth:`since` it for what comes next."""
        newest = self.redis.xrevrange(keys.OUTBOX, count=1) or []
        return _text(newest[0][0] or b"0-0") if newest else "0-0"

    def since(self, after: str = "0-0", count: int = 100) -> tuple[str, list[dict[str, str]]]:
        """Messages recorded after stream id ``after`` (any recipient), and the id to continue from."""
        entries = self.redis.xrange(keys.OUTBOX, f"({after}", "+", count=count) or []
        if not entries:
            return after, []
        return _text(entries[-1][0] or b""), [self._read(fields) for _, fields in entries]

    def _read(self, raw: Any) -> dict[str, str]:
        fields = decode_hash(raw)
        return {
            "channel": fields["channel"],
            "to": self.box.decrypt(fields["to_enc"], context=_TO_CONTEXT),
            "kind": fields["kind"],
            "text": self.box.decrypt(fields["text_enc"], context=_TEXT_CONTEXT),
            "at": fields["at"],
        }


class SendLedger:
    """Remembers sends by idempotency key (``keys.sent``), so that a retried send sends nothing."""

    def __init__(self, redis_client: redis.Redis, box: SecretBox, ttl: timedelta = SENT_TTL) -> None:
        self._redis = redis_client
        self._box = box
        self._ttl = ttl

    def _key(self, idempotency_key: str) -> str:
        return keys.sent(self._box.lookup_hash(idempotency_key, kind="idempotency"))

    def claim(self, idempotency_key: str) -> SendResult | None:
        """None when this key is new (the caller sends now), else the result of the earlier send."""
        key = self._key(idempotency_key)
        if self._redis.set(key, _PENDING, nx=True, ex=self._ttl):
            return None
        raw = self._redis.get(key)
        if raw is None or _text(raw) == _PENDING:
            # another worker is sending it right now (or its record just expired): do not send twice
            return SendResult(ok=True, provider_id=None, error=None)
        stored = json.loads(_text(raw))
        return SendResult(ok=bool(stored["ok"]), provider_id=stored.get("provider_id"), error=stored.get("error"))

    def settle(self, idempotency_key: str, result: SendResult) -> None:
        """Keep the result of a send made after :meth:`claim`; a failed send releases the key for a retry."""
        key = self._key(idempotency_key)
        if not result.ok:
            self._redis.delete(key)
            return
        payload = {"ok": result.ok, "provider_id": result.provider_id, "error": result.error}
        self._redis.set(key, json.dumps(payload), xx=True, keepttl=True)

    def release(self, idempotency_key: str) -> None:
        """Forget a claim whose send raised, so that a retry sends."""
        self._redis.delete(self._key(idempotency_key))

    def once(self, idempotency_key: str | None, send: Callable[[], SendResult]) -> SendResult:
        """Run ``send`` unless this key was sent already (then the first result); no key: always send."""
        if idempotency_key is None:
            return send()
        earlier = self.claim(idempotency_key)
        if earlier is not None:
            return earlier
        try:
            result = send()
        except BaseException:
            self.release(idempotency_key)
            raise
        self.settle(idempotency_key, result)
        return result
