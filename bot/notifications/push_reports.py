"""What became of WeChat template messages: WeChat reports each one's delivery later, in a ``TEMPLATESENDJOBFINISH``
event (``success``, ``failed:user block``, ``failed: system failed``), as Twilio reports an SMS's in a status
callback (``adapters.sms.twilio.DeliveryLog``).

The notifier remembers what each template message it pushed was about (:meth:`PushReports.remember`: the
appointment's serial, the kind, the send-once key and the text, encrypted), by WeChat's ``msgid``; a report is kept
per ``msgid`` for a week (:meth:`PushReports.record`). A failed one is the push failing late: the notifier then
falls back to SMS (SPEC §5) under the send-once key ``<key>:sms``, the same as an immediate fallback, so a report
delivered twice, or a push that had already fallen back, sends one SMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis

from bot.clock import Clock
from bot.crypto import SecretBox
from bot.notifications.outbox import OutboxKind
from bot.records import decode_hash
from bot.storage import keys

SENT_KEPT = timedelta(days=3)
"""How long what a template message carried is kept (WeChat reports within seconds to minutes)."""
REPORT_KEPT = timedelta(days=7)
FAILED = "failed"
_CONTEXT = "wechat.template"


@dataclass(frozen=True)
class Pushed:
    """What one template message carried: about appointment ``serial``, of ``kind``, sent once under ``key``."""

    serial: str
    kind: OutboxKind
    key: str
    body: str


def is_failure(status: str) -> bool:
    """Whether a reported status is a failure (``failed:user block``, ``failed: system failed``, ...)."""
    return status.strip().lower().startswith(FAILED)


class PushReports:
    """Template messages pushed, by ``msgid``, and the delivery reports WeChat sent about them."""

    def __init__(self, redis_client: redis.Redis, box: SecretBox, clock: Clock) -> None:
        self._redis = redis_client
        self._box = box
        self._clock = clock

    def remember(self, pushed: Sequence[tuple[str, Pushed]]) -> None:
        """Keep what each template message (``msgid``, what it carried) was, in one round trip."""
        if not pushed:
            return
        pipe = self._redis.pipeline(transaction=False)
        for msgid, item in pushed:
            key = keys.wechat_template_sent(msgid)
            body = self._box.encrypt(item.body, context=_CONTEXT)
            pipe.hset(key, mapping={"serial": item.serial, "kind": str(item.kind), "key": item.key, "body_enc": body})
            pipe.expire(key, SENT_KEPT)
        pipe.execute()

    def pushed(self, msgid: str) -> Pushed | None:
        """What the template message ``msgid`` carried, if it was ours and is still remembered."""
        found = decode_hash(self._redis.hgetall(keys.wechat_template_sent(msgid)))
        if not found:
            return None
        body = self._box.decrypt(found["body_enc"], context=_CONTEXT)
        return Pushed(found["serial"], OutboxKind(found["kind"]), found["key"], body)

    def record(self, msgid: str, status: str) -> bool:
        """Keep WeChat's report of ``msgid``; True when it is a failure of a message we remember (fall back)."""
        key = keys.wechat_template_status(msgid)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": status.strip(), "at": self._clock.now().isoformat()})
        pipe.expire(key, REPORT_KEPT)
        pipe.exists(keys.wechat_template_sent(msgid))
        known = pipe.execute()[-1]
        return is_failure(status) and bool(known)

    def report(self, msgid: str) -> dict[str, str]:
        """The report of ``msgid``: status, at (empty when none came)."""
        return decode_hash(self._redis.hgetall(keys.wechat_template_status(msgid)))
