"""The WeChat official account webhook (SPEC §4–§6): check, decrypt, parse → Inbound → engine → passive reply.

``GET /wechat`` answers WeChat's server URL check; ``POST /wechat`` receives messages and events, plain or in safe
mode (``encrypt_type=aes``). Every request is refused before its body is looked at when the signature is wrong or
its timestamp is more than 5 minutes from the real wall clock (403); the wire format is ``adapters.wechat.parse``'s.
The message is parsed once into wechatpy's typed message and answered by its type (``TextMessage``,
``SubscribeEvent``...).

WeChat waits 5 s for an answer, then retries the same message (up to 3 times). The step runs on the request thread
with every wait bounded by :data:`REPLY_DEADLINE_S` from the request's arrival (the user's lock, and Redis's socket
timeouts, which the composition root sets): a step that cannot give its reply by then answers ``success`` at once and
is handed to the worker (``hand_off``: an RQ job runs the step, or takes the reply it stored, and pushes it as
customer-service messages, once). A reply longer than one passive reply goes the same way from its second message.
The engine dedupes retries by message id in the delivery ledger, which also tells a retry whether the worker pushes
the reply (then the retry answers ``success``): nothing is answered and pushed, nothing twice, with no Redis round
trip beyond the engine's two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import Blueprint, Response, request
from wechatpy.events import ClickEvent, SubscribeEvent, SubscribeScanEvent, SubscribeScanProductEvent, UnsubscribeEvent
from wechatpy.messages import BaseMessage, TextMessage, UnknownMessage, VoiceMessage

from adapters.wechat.parse import (
    Envelope,
    Refused,
    check_request_signature,
    check_signature,
    envelope_encrypt,
    parse_wechat_message,
    plain,
    read_body,
    render_text_reply,
    split_reply,
)
from adapters.wechat.push import Followers
from bot.config import WeChatConfig
from bot.crypto import SecretBox
from bot.patients import account_id
from bot.storage.runtime import unavailable
from dialogs.engine import Conversation, Fate, HandOff
from dialogs.message import Channel, Inbound
from texts import text

log = logging.getLogger(__name__)

REPLY_DEADLINE_S = 4.0
"""From a request's arrival, how long its step may take before it answers ``success`` (WeChat gives up after 5 s)."""
CLICK_COMMANDS = {"BOOK": "book", "MY_APPOINTMENTS": "list", "MORE": "help", "HELP": "help"}
"""Custom menu keys (see ``adapters.wechat.push.MENU``) → the engine's one-shot commands."""
SUBSCRIBED = (SubscribeEvent, SubscribeScanEvent, SubscribeScanProductEvent)
"""A follow, plain or through a QR code (wechatpy tells those apart)."""
SUCCESS = "success"


class EventHook(Protocol):
    """``adapters.wechat.events.WeChatEvents``: an engine step to take, an answer, or None (not its event)."""

    def handle(self, message: BaseMessage, event_id: str) -> Inbound | str | None: ...


class Languages(Protocol):
    """What the webhook asks of the patient service: the language an account chose, if any."""

    def account_language(self, acct: str) -> str | None: ...


@dataclass(frozen=True)
class WeChatServices:
    """The few services the webhook uses: the engine, accounts (their language), followers."""

    engine: Conversation
    box: SecretBox
    languages: Languages
    followers: Followers
    events: EventHook | None = None
    """Events handled beyond messages and clicks (``adapters.wechat.events``: delivery reports, QR codes)."""


# --- the webhook -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Query:
    signature: str
    timestamp: str
    nonce: str
    encrypted: bool
    msg_signature: str


class WeChatWebhook:
    """Turns checked WeChat pushes into engine steps and renders the replies (the blueprint's state)."""

    def __init__(
        self,
        services: WeChatServices,
        config: WeChatConfig,
        hand_off: HandOff,
        *,
        reply_deadline: float = REPLY_DEADLINE_S,
    ) -> None:
        self.services = services
        self.config = config
        self.hand_off = hand_off
        self.reply_deadline = reply_deadline
        self.envelope = Envelope(config.token, config.encoding_aes_key, config.app_id) if config.safe_mode else None

    # --- HTTP ------------------------------------------------------------------------------------------
    def url_check(self) -> Response:
        """``GET /wechat``: echo ``echostr`` when the signature is WeChat's."""
        self._checked_query()
        return Response(request.args.get("echostr", ""), mimetype="text/plain")

    def receive(self) -> Response:
        """``POST /wechat``: one message or event; the passive reply (encrypted in safe mode) or ``success``."""
        deadline = time.monotonic() + self.reply_deadline
        query = self._checked_query()
        body = read_body(request)
        message = parse_wechat_message(
            self._decrypt(body, query) if self.envelope is not None else self._plain(query, body)
        )
        try:
            reply = self.answer(message, deadline)
        except Exception as failed:  # a checked message while Redis is down: tell the user, in their chat (SPEC §7)
            if not unavailable(failed):
                raise
            log.warning("wechat message answered busy: Redis unavailable")
            reply = text("zh", "common.busy")
        if not reply:
            return Response(SUCCESS, mimetype="text/plain")
        rendered = render_text_reply(message, reply)
        if self.envelope is not None:
            rendered = self.envelope.seal(rendered, query.nonce, str(int(time.time())))
        return Response(rendered, mimetype="application/xml")

    def _checked_query(self) -> _Query:
        args = request.args.to_dict()  # the first of each; a missing key costs no KeyError
        query = _Query(
            signature=args.get("signature", ""),
            timestamp=args.get("timestamp", ""),
            nonce=args.get("nonce", ""),
            encrypted=args.get("encrypt_type", "raw").lower() == "aes",
            msg_signature=args.get("msg_signature", ""),
        )
        check_request_signature(self.config.token, query.signature, query.timestamp, query.nonce, now=time.time())
        return query

    @staticmethod
    def _plain(query: _Query, body: bytes) -> bytes:
        if query.encrypted:
            raise Refused(400, "encrypted message but no encoding_aes_key configured")
        return body

    def _decrypt(self, body: bytes, query: _Query) -> str:
        assert self.envelope is not None
        if not query.encrypted:
            # in safe mode a plain body is not covered by any signature: never act on one
            raise Refused(403, "safe mode expects encrypt_type=aes")
        encrypted = envelope_encrypt(body)
        if not check_signature(query.msg_signature, self.config.token, query.timestamp, query.nonce, encrypted):
            raise Refused(403, "bad msg_signature")
        try:  # the XML text of the message
            return self.envelope.open(encrypted)
        except Exception:  # bad base64, padding, app id or UTF-8: signed, yet not a message of ours
            raise Refused(400, "undecryptable") from None

    # --- messages and events ---------------------------------------------------------------------------
    def answer(self, message: BaseMessage, deadline: float) -> str:
        """The passive reply text to one typed message by ``deadline`` (``time.monotonic()``; "" = ``success``)."""
        openid = message.source
        acct = account_id(self.services.box, Channel.wechat.value, openid)
        msg_id = str(message.id) if message.id else None
        if isinstance(message, TextMessage):
            return self._step(deadline, Inbound(Channel.wechat, openid, plain(message.content), msg_id))
        if isinstance(message, VoiceMessage) and plain(message.recognition).strip():
            # WeChat's own speech recognition (when the account turned it on) gives text we can use
            return self._step(deadline, Inbound(Channel.wechat, openid, plain(message.recognition), msg_id))
        if not _is_event(message):
            return self._unsupported(acct)  # image, voice, video, location, link, anything new
        # the time and the key too: two different menu clicks in one second are two events
        event_id = f"{openid}:{message.time}:{message.event}:{plain(getattr(message, 'key', ''))}"
        hooked = self.services.events.handle(message, event_id) if self.services.events is not None else None
        if isinstance(hooked, Inbound):  # a department's QR code: a step (a follow through it is a follow too)
            if isinstance(message, SUBSCRIBED):
                self.services.followers.followed(acct)
            return self._step(deadline, hooked)
        if hooked is not None:
            return hooked
        if isinstance(message, SUBSCRIBED):
            self.services.followers.followed(acct)
            return self._step(deadline, Inbound(Channel.wechat, openid, "", event_id, event="subscribe"))
        if isinstance(message, UnsubscribeEvent):
            self.services.followers.left(acct)
            return ""
        if isinstance(message, ClickEvent):
            command = CLICK_COMMANDS.get(plain(message.key).strip().upper(), "help")
            return self._step(deadline, Inbound(Channel.wechat, openid, "", event_id, command=command))
        return ""  # menu links, location reports, template delivery reports...: nothing to say

    def _unsupported(self, acct: str) -> str:
        language = self.services.languages.account_language(acct) or "zh"
        return text(language, "common.unsupported")

    def _step(self, deadline: float, inbound: Inbound) -> str:
        """One engine step by the deadline: the passive reply; the rest (or all, when late) pushed by the worker."""
        answer = self.services.engine.answer(inbound, deadline)
        if answer.fate == Fate.HAND_OFF:
            log.warning("wechat step late: answered success, the worker pushes the reply")
            self.hand_off(inbound, 0)
            return ""
        messages = split_reply([r.text for r in answer.replies])
        if answer.fate == Fate.ANSWERED and len(messages) > 1:
            self.hand_off(inbound, 1)  # only the delivery that ran the step: a retry's replay pushes nothing
        return messages[0] if messages else ""


def _is_event(message: BaseMessage) -> bool:
    """An event (typed, or one wechatpy does not know yet), as opposed to a message."""
    if isinstance(message, UnknownMessage):
        # wechatpy types every message and event it knows; of the rest it keeps only the parsed fields (no public
        # accessor): a new event answers success, a new message type the polite refusal
        return str(message._data.get("MsgType", "")).strip().lower() == "event"
    return bool(message.type == "event")


def wechat_blueprint(
    services: WeChatServices,
    config: WeChatConfig,
    hand_off: HandOff,
    *,
    reply_deadline: float = REPLY_DEADLINE_S,
) -> Blueprint:
    """``GET/POST /wechat`` over ``services``; replies that do not fit (or come late) go to ``hand_off``."""
    webhook = WeChatWebhook(services, config, hand_off, reply_deadline=reply_deadline)
    blueprint = Blueprint("wechat", __name__)

    def guarded(handler: Callable[[], Response]) -> Response:
        if not config.enabled:
            return Response("wechat channel is off", status=404, mimetype="text/plain")
        try:
            return handler()
        except Refused as refused:
            log.info("wechat request refused", extra={"status": refused.status, "reason": refused.reason})
            return Response(refused.reason, status=refused.status, mimetype="text/plain")

    @blueprint.get("/wechat")
    def url_check() -> Response:
        return guarded(webhook.url_check)

    @blueprint.post("/wechat")
    def receive() -> Response:
        return guarded(webhook.receive)

    return blueprint
