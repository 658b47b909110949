"""The console channel's senders: messages recorded into the outbox (a Redis stream the simulator, the terminal chat
and the tests read) instead of going to a provider.

:class:`ConsoleSender` records through the send-once :class:`SendLedger`; :class:`AtomicConsoleSender` records a
message and its send-once mark in one Lua step, so even a worker killed mid-send neither loses nor doubles one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta, tzinfo
from typing import Any

import rules
from bot.clock import Clock
from bot.notifications.outbox import (
    _TEXT_CONTEXT,
    _TO_CONTEXT,
    OUTBOX_MAXLEN,
    OUTBOX_PER_RECIPIENT,
    SENT_TTL,
    OutboundMessage,
    Outbox,
    SendLedger,
    SendResult,
    recipient,
)
from bot.records import text
from bot.storage import keys
from bot.storage.scripts import Scripts


class ConsoleSender:
    """A :class:`Sender` for both channels that records into the :class:`Outbox` (demo, simulator, tests)."""

    def __init__(self, outbox: Outbox, ledger: SendLedger | None = None) -> None:
        self._outbox = outbox
        self._ledger = ledger if ledger is not None else SendLedger(outbox.redis, outbox.box)

    def send(self, message: OutboundMessage) -> SendResult:
        """Record ``message``; with an idempotency key already used, record nothing and return the first result."""
        return self._ledger.once(
            message.idempotency_key,
            lambda: SendResult(ok=True, provider_id=self._outbox.record(message), error=None),
        )


class AtomicConsoleSender:
    """The console :class:`Sender` (the outbox the simulator and tests read) for both channels, recording a message
    and its send-once mark in one Lua step (``reminder_console_send.lua``): exactly once, even across a crash.

    It writes the same stream fields and the same send-once keys as :class:`bot.notifications.outbox.ConsoleSender` and
    :class:`bot.notifications.outbox.SendLedger` (a test holds them together), so both read each other's records.
    """

    def __init__(self, outbox: Outbox, clock: Clock, tz: tzinfo | None = None, ttl: timedelta = SENT_TTL) -> None:
        self._outbox = outbox
        self._box = outbox.box
        self._clock = clock
        self._tz = tz
        self._ttl = int(ttl.total_seconds())
        self._scripts = Scripts(outbox.redis, "reminder_console_send")

    def send(self, message: OutboundMessage) -> SendResult:
        """Record ``message`` once per idempotency key (every message, without one)."""
        return _console_result(self._record(message, None))

    def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """:meth:`send` for many messages, in one round trip."""
        pipe = self._outbox.redis.pipeline(transaction=False)
        for message in messages:
            self._record(message, pipe)
        return [_console_result(result) for result in pipe.execute()]

    def _record(self, message: OutboundMessage, pipe: Any) -> Any:
        to = recipient(message.channel, message.to)
        lookup = rules.normalize_mobile(to) or to
        now = self._clock.now()
        at = now.astimezone(self._tz) if self._tz is not None else now
        key = message.idempotency_key
        ledger = keys.sent(self._box.lookup_hash(key, kind="idempotency")) if key else keys.sent("-")
        to_hash = self._box.lookup_hash(lookup, kind="outbox")
        fields = [
            "channel",
            message.channel,
            "to_enc",
            self._box.encrypt(to, context=_TO_CONTEXT),
            "to_hash",
            to_hash,
            "kind",
            str(message.kind),
            "text_enc",
            self._box.encrypt(message.text, context=_TEXT_CONTEXT),
            "at",
            at.isoformat(),
        ]
        return self._scripts.run(
            "reminder_console_send",
            keys=[ledger, keys.OUTBOX, keys.outbox_of(to_hash)],
            args=[self._ttl if key else 0, OUTBOX_MAXLEN, OUTBOX_PER_RECIPIENT, *fields],
            client=pipe,
        )


def _console_result(result: Any) -> SendResult:
    recorded, value = int(result[0]), text(result[1])
    if recorded:
        return SendResult(ok=True, provider_id=value)
    if value == "pending":  # another sender claimed it and is sending right now
        return SendResult(ok=True)
    stored = json.loads(value)
    return SendResult(ok=bool(stored.get("ok")), provider_id=stored.get("provider_id"), error=stored.get("error"))
