"""Replies the worker sends after the webhook answered: the step of a delivery a webhook handed over (the user's lock
stayed busy, or the step ran past the reply deadline), and what did not fit in a passive WeChat reply.

A webhook answers within WeChat's 5 s whatever happens; what it could not answer it hands over with
:class:`LateReplies` — an RQ job (:func:`finish_late_reply`) whose one argument is the inbound message sealed with the
secret box (it may hold an ID number: never in clear in Redis) and how many of the reply's messages were already
answered. The job runs :meth:`dialogs.engine.Engine.finish_late`, which runs the step once however often the job
runs (an RQ retry), splits the replies as the channel does (WeChat's 2,048 bytes, SMS's two segments) and sends the
rest through the channel's notification sender (WeChat customer-service messages, SMS), each message with a
send-once key (``late:<delivery key>:<n>``): sent once, whatever the retries.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq import Retry

from adapters.sms.webhook import pack
from adapters.wechat.parse import split_reply
from adapters.wechat.push import UNREACHABLE
from app.services import build_engine
from bot import jobs
from bot.crypto import SecretBox
from bot.notifications.outbox import OutboundMessage, OutboxKind
from bot.patients import account_id
from bot.reminders import JOB_TIMEOUT_S, RESULT_TTL_S, job_queue
from bot.services import Services
from bot.storage import keys
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound

log = logging.getLogger(__name__)

JOB = "app.late_replies.finish_late_reply"
CONTEXT = "late-reply"
RETRY = Retry(max=4, interval=[1, 5, 15, 60])
"""A busy lock or a refused push is tried again (what was sent already is not sent twice)."""


class LateReplyFailedError(RuntimeError):
    """A reply could not be sent now: the job fails and RQ retries it."""


def seal(box: SecretBox, inbound: Inbound, answered: int) -> str:
    """The job's argument: the message and how many reply messages were answered already, sealed."""
    order = {
        "channel": inbound.channel.value,
        "user": inbound.user,
        "text": inbound.text,
        "message_id": inbound.message_id,
        "event": inbound.event,
        "command": inbound.command,
        "answered": answered,
    }
    return box.encrypt_json(order, context=CONTEXT)


def unseal(box: SecretBox, sealed: str) -> tuple[Inbound, int]:
    """The message and the count of messages answered, from :func:`seal`'s output."""
    order: dict[str, Any] = box.decrypt_json(sealed, context=CONTEXT)
    inbound = Inbound(
        Channel(order["channel"]), order["user"], order["text"], order["message_id"], order["event"], order["command"]
    )
    return inbound, int(order["answered"])


class LateReplies:
    """The webhooks' hand-off: ``late(inbound, answered)`` has the worker finish ``inbound`` and send its reply from
    message ``answered`` on (0: all of it)."""

    def __init__(self, client: redis.Redis, box: SecretBox) -> None:
        self._queue = job_queue(client)
        self._box = box

    def __call__(self, inbound: Inbound, answered: int = 0) -> None:
        self._queue.enqueue(
            JOB,
            seal(self._box, inbound, answered),
            job_timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S,
            retry=RETRY,
            description=f"late {inbound.channel.value} reply",
        )


_engine: tuple[Services, Engine] | None = None


def _engine_of(services: Services) -> Engine:
    """The engine over the worker's services (built once per worker)."""
    global _engine
    if _engine is None or _engine[0] is not services:
        _engine = (services, build_engine(services))
    return _engine[1]


def finish_late_reply(sealed: str) -> str:
    """Job: finish one handed-over delivery and send what the user has not had of its reply."""
    services = jobs.bound_services()
    assert isinstance(services, Services), "run by guahao's worker"
    inbound, answered = unseal(services.box, sealed)
    replies = [o.text for o in _engine_of(services).finish_late(inbound)]
    messages = split_reply(replies) if inbound.channel == Channel.wechat else pack(replies)
    delivery = _delivery_key(services.box, inbound)
    sender = services.notifier.senders[inbound.channel.value]
    for n, text in enumerate(messages[answered:], start=answered):
        once = f"late:{delivery}:{n}" if delivery else None
        result = sender.send(OutboundMessage(inbound.channel.value, inbound.user, OutboxKind.reply, text, once))
        if result.ok:
            continue
        if result.error == UNREACHABLE:  # out of the 48-hour window, unfollowed: retrying changes nothing
            log.warning("late reply unreachable", extra={"channel": inbound.channel.value})
            return "unreachable"
        raise LateReplyFailedError(f"late {inbound.channel.value} reply: {result.error}")
    return f"sent {max(0, len(messages) - answered)}"


def _delivery_key(box: SecretBox, inbound: Inbound) -> str | None:
    """The delivery's key in the ledger (no personal data: a keyed hash and the platform's message id)."""
    if not inbound.message_id:
        return None
    acct = account_id(box, inbound.channel.value, inbound.user)
    return keys.inbound_seen(inbound.channel.value, f"{acct}:{inbound.message_id}")
