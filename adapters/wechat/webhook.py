"""The WeChat official account webhook (SPEC §4–§6): check, decrypt, parse → Inbound → engine → passive reply.

``GET /wechat`` answers WeChat's server URL check; ``POST /wechat`` receives messages and events, plain or in safe
mode (``encrypt_type=aes``). Every request is refused before its body is looked at when the signature is wrong or
its timestamp is more than 5 minutes from the real wall clock (403). Bodies are at most 64 KiB (413) and must be
UTF-8 XML without any DTD (400): a ``<!DOCTYPE``/``<!ENTITY`` is refused before a parser sees it, so nothing is
ever expanded.

WeChat waits 5 s for an answer, then retries the same message (up to 3 times). Each step runs on a bounded thread
pool; when its reply is not ready after :data:`REPLY_DEADLINE_S` the answer is ``success`` and the reply goes to
``deliver_later`` (customer-service messages) once ready. The engine dedupes retries by message id; a Redis
marker (``keys.wechat_pushed``) makes sure what is pushed later is pushed once, whatever the retries.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import flask
import xmltodict  # wechatpy parses with it (a dependency of wechatpy)
from flask import Blueprint, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from bot.config import WeChatConfig
from bot.patients import account_id
from bot.storage import keys
from bot.storage.runtime import REDIS_DOWN
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound, Outbound
from texts import text

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW_S = 300
REPLY_LIMIT_BYTES = 2048
"""WeChat's limit on the content of one passive reply (and what we put in one customer-service message)."""
REPLY_DEADLINE_S = 4.0
"""How long a request waits for its step before answering ``success`` (WeChat gives up after 5 s)."""
PUSHED_TTL_S = 24 * 3600
WORKERS = 16
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
CLICK_COMMANDS = {"BOOK": "book", "MY_APPOINTMENTS": "list", "MORE": "help", "HELP": "help"}
"""Custom menu keys (see ``adapters.wechat.push.MENU``) → the engine's one-shot commands."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
SUCCESS = "success"

DeliverLater = Callable[[str, list[str]], None]
"""``deliver_later(openid, texts)``: push texts as customer-service messages (the lead's wiring, via a Sender)."""


class Refused(Exception):
    """A request the webhook refuses, with the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- signatures, body, XML ---------------------------------------------------------------------------------
def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts (token, timestamp, nonce[, encrypted body])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def check_request_signature(token: str, signature: str, timestamp: str, nonce: str, *, now: float) -> None:
    """Raise 403 unless ``signature`` is right (compared in constant time) and ``timestamp`` is within 300 s of
    ``now`` (the real wall clock: a simulated clock must not open or close the replay window)."""
    # wechatpy's check_signature compares with ``!=``, which leaks timing: compare digests ourselves
    if not hmac.compare_digest(sign(token, timestamp, nonce).encode(), signature.encode()):
        raise Refused(403, "bad signature")
    if not _TIMESTAMP.fullmatch(timestamp):  # int() takes 4,000 digits, signs and non-ASCII digits: none is a time
        raise Refused(403, "bad timestamp")
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise Refused(403, "stale timestamp")


def read_body(req: flask.Request) -> bytes:
    """The request body, refused with 413 beyond 64 KiB whether the length is announced or not."""
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise Refused(413, "body too large")
    body = req.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "body too large")
    return body


def parse_xml(raw: bytes | str) -> dict[str, Any]:
    """The fields under ``<xml>``; 400 for anything but well-formed UTF-8 XML without a DTD."""
    try:
        xml = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise Refused(400, "not UTF-8") from None
    if _DTD.search(xml):
        raise Refused(400, "DTD not allowed")  # before any parser: no entity is ever expanded
    try:
        # a str is parsed as UTF-8 whatever its declaration says; expat never sees a DTD (checked above)
        root = xmltodict.parse(xml)
    except Exception:  # expat's errors, and anything odd inside xmltodict
        raise Refused(400, "malformed XML") from None
    fields = root.get("xml") if isinstance(root, dict) else None
    if not isinstance(fields, dict):
        raise Refused(400, "no <xml> root")
    return fields


@dataclass(frozen=True)
class Parsed:
    """A pushed message: its raw fields, and wechatpy's typed message (``TextMessage``... or ``UnknownMessage``)."""

    fields: dict[str, Any]
    message: Any

    @property
    def openid(self) -> str:
        return str(self.fields["FromUserName"])

    @property
    def msg_type(self) -> str:
        return str(self.fields["MsgType"]).strip().lower()

    @property
    def event(self) -> str:
        """The event name as sent (``subscribe``, ``CLICK``...), lower-cased; "" for a message."""
        return self.text_field("Event").strip().lower()

    def text_field(self, name: str) -> str:
        """A field's text; "" when absent or not plain text (an element with children, a repeated one)."""
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""


def parse_wechat_message(xml: str) -> Parsed:
    """Fields and typed message of an XML text; 400 when it is not XML or lacks a required field."""
    fields = parse_xml(xml)
    for name in REQUIRED_FIELDS:
        if not isinstance(fields.get(name), str) or not fields[name].strip():
            raise Refused(400, f"missing {name}")
    if not fields["CreateTime"].strip().isdigit():
        raise Refused(400, "bad CreateTime")
    try:
        return Parsed(fields, parse_message(xml))
    except Exception:
        raise Refused(400, "unparsable message") from None


def _cdata(value: str) -> str:
    """A value that stays inside wechatpy's ``<![CDATA[...]]>`` whatever it holds."""
    return value.replace("]]>", "]]]]><![CDATA[>")


def render_text_reply(parsed: Parsed, content: str) -> str:
    """The passive text reply XML to a message: from the account it was sent to, to its sender."""
    reply = TextReply(
        source=_cdata(str(parsed.fields["ToUserName"])),
        target=_cdata(parsed.openid),
        content=_cdata(content),
        time=int(time.time()),
    )
    return str(reply.render())


# --- reply splitting ---------------------------------------------------------------------------------------
def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def _split_long(paragraph: str, limit: int) -> list[str]:
    """A paragraph cut into pieces of at most ``limit`` bytes: at line ends, else between characters."""
    if _utf8_len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for line in paragraph.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for char in line:  # a line too long by itself: cut between characters
            if _utf8_len(current + char) > limit:
                pieces.append(current)
                current = ""
            current += char
    if current:
        pieces.append(current)
    return pieces


def split_reply(paragraphs: list[str], limit: int = REPLY_LIMIT_BYTES) -> list[str]:
    """Paragraphs joined with a blank line into as few messages of at most ``limit`` UTF-8 bytes as they fit in;
    the first is the passive reply, the others go out as customer-service messages."""
    messages: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if not paragraph.strip():
            continue
        for piece in _split_long(paragraph, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if _utf8_len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


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
        engine: Engine,
        config: WeChatConfig,
        deliver_later: DeliverLater,
        *,
        reply_deadline: float = REPLY_DEADLINE_S,
        workers: int = WORKERS,
    ) -> None:
        self.engine = engine
        self.config = config
        self.deliver_later = deliver_later
        self.reply_deadline = reply_deadline
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wechat-step")
        self.crypto = WeChatCrypto(config.token, config.encoding_aes_key, config.app_id) if config.safe_mode else None

    # --- HTTP ------------------------------------------------------------------------------------------
    def url_check(self) -> Response:
        """``GET /wechat``: echo ``echostr`` when the signature is WeChat's."""
        self._checked_query()
        return Response(request.args.get("echostr", ""), mimetype="text/plain")

    def receive(self) -> Response:
        """``POST /wechat``: one message or event; the passive reply (encrypted in safe mode) or ``success``."""
        query = self._checked_query()
        body = read_body(request)
        xml = self._decrypt(body, query) if self.crypto is not None else self._plain(body, query)
        parsed = parse_wechat_message(xml)
        try:
            reply = self.answer(parsed)
        except REDIS_DOWN:  # a checked message while Redis is down: tell the user, in their chat (SPEC §7)
            log.warning("wechat message answered busy: Redis unavailable")
            reply = text("zh", "common.busy")
        if not reply:
            return Response(SUCCESS, mimetype="text/plain")
        rendered = render_text_reply(parsed, reply)
        if self.crypto is not None:
            rendered = str(self.crypto.encrypt_message(rendered, query.nonce, str(int(time.time()))))
        return Response(rendered, mimetype="application/xml")

    def _checked_query(self) -> _Query:
        args = request.args
        query = _Query(
            signature=args.get("signature", ""),
            timestamp=args.get("timestamp", ""),
            nonce=args.get("nonce", ""),
            encrypted=args.get("encrypt_type", "raw").lower() == "aes",
            msg_signature=args.get("msg_signature", ""),
        )
        check_request_signature(self.config.token, query.signature, query.timestamp, query.nonce, now=time.time())
        return query

    def _plain(self, body: bytes, query: _Query) -> str:
        if query.encrypted:
            raise Refused(400, "encrypted message but no encoding_aes_key configured")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "not UTF-8") from None

    def _decrypt(self, body: bytes, query: _Query) -> str:
        assert self.crypto is not None
        if not query.encrypted:
            # in safe mode a plain body is not covered by any signature: never act on one
            raise Refused(403, "safe mode expects encrypt_type=aes")
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Refused(400, "no Encrypt")
        expected = sign(self.config.token, query.timestamp, query.nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), query.msg_signature.encode()):
            raise Refused(403, "bad msg_signature")
        try:
            return str(self.crypto.decrypt_message(envelope, query.msg_signature, query.timestamp, query.nonce))
        except Exception:  # bad base64, padding, app id or UTF-8: signed, yet not a message of ours
            raise Refused(400, "undecryptable") from None

    # --- messages and events ---------------------------------------------------------------------------
    def answer(self, parsed: Parsed) -> str:
        """The passive reply text to one parsed message ("" = answer ``success``)."""
        openid = parsed.openid
        acct = account_id(self.engine.deps.box, Channel.wechat.value, openid)
        msg_id = parsed.text_field("MsgId").strip() or None
        if parsed.msg_type == "text":
            return self._step(openid, acct, Inbound(Channel.wechat, openid, parsed.text_field("Content"), msg_id))
        recognition = parsed.text_field("Recognition")
        if parsed.msg_type == "voice" and recognition.strip():
            # WeChat's own speech recognition (when the account turned it on) gives text we can use
            return self._step(openid, acct, Inbound(Channel.wechat, openid, recognition, msg_id))
        if parsed.msg_type != "event":
            return self._unsupported(acct)  # image, voice, video, location, link, anything new
        fields = parsed.fields  # EventKey too: two different menu clicks in one second are two events
        event_id = f"{openid}:{fields['CreateTime']}:{fields.get('Event')}:{fields.get('EventKey') or ''}"
        if parsed.event == "subscribe":  # also a follow through a QR code (EventKey qrscene_...)
            self.engine.redis.delete(keys.wechat_unsubscribed(acct))
            return self._step(openid, acct, Inbound(Channel.wechat, openid, "", event_id, event="subscribe"))
        if parsed.event == "unsubscribe":
            self.engine.redis.set(keys.wechat_unsubscribed(acct), int(time.time()))
            return ""
        if parsed.event == "click":
            command = CLICK_COMMANDS.get(parsed.text_field("EventKey").strip().upper(), "help")
            return self._step(openid, acct, Inbound(Channel.wechat, openid, "", event_id, command=command))
        return ""  # menu links, location reports, template delivery reports...: nothing to say

    def _unsupported(self, acct: str) -> str:
        language = self.engine.deps.patients.account_language(acct) or "zh"
        return text(language, "common.unsupported")

    def _step(self, openid: str, acct: str, inbound: Inbound) -> str:
        """One engine step within the deadline: the passive reply; the rest (or all, when late) pushed once."""
        pushed = keys.wechat_pushed(f"{acct}:{inbound.message_id}")
        if _text(self.engine.redis.get(pushed)) == "deferred":
            return ""  # an earlier delivery of this message answered `success`: its reply is (being) pushed
        future = self.pool.submit(self._handle, inbound)
        try:
            replies = future.result(timeout=self.reply_deadline)
        except FutureTimeout:
            if self.engine.redis.set(pushed, "deferred", nx=True, ex=PUSHED_TTL_S):
                future.add_done_callback(lambda done: self._push_when_done(openid, done))
            log.warning("wechat step late: answered success, reply to be pushed")
            return ""
        messages = split_reply([r.text for r in replies])
        if not messages:
            return ""
        state = _text(self.engine.redis.get(pushed))
        if state == "deferred":
            return ""  # a twin delivery of this message gave up waiting: it pushes the whole reply
        if len(messages) > 1 and state is None:
            if self.engine.redis.set(pushed, "overflow", nx=True, ex=PUSHED_TTL_S):
                self.pool.submit(self._deliver, openid, messages[1:])  # off the request: the answer goes now
            elif _text(self.engine.redis.get(pushed)) == "deferred":
                return ""
        return messages[0]

    def _handle(self, inbound: Inbound) -> list[Outbound]:
        return self.engine.handle(inbound)

    def _push_when_done(self, openid: str, done: Future[list[Outbound]]) -> None:
        try:
            replies = done.result()
        except Exception:
            log.exception("wechat step failed after answering success")
            return
        self._deliver(openid, split_reply([r.text for r in replies]))

    def _deliver(self, openid: str, messages: list[str]) -> None:
        if not messages:
            return
        try:
            self.deliver_later(openid, messages)
        except Exception:
            log.exception("wechat deliver_later failed", extra={"messages": len(messages)})


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def wechat_blueprint(
    engine: Engine,
    config: WeChatConfig,
    deliver_later: DeliverLater,
    *,
    reply_deadline: float = REPLY_DEADLINE_S,
    workers: int = WORKERS,
) -> Blueprint:
    """``GET/POST /wechat`` over ``engine``; replies that do not fit (or come late) go to ``deliver_later``."""
    webhook = WeChatWebhook(engine, config, deliver_later, reply_deadline=reply_deadline, workers=workers)
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
