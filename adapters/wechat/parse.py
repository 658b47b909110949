"""WeChat's wire format: request signatures, bounded bodies, the safe-mode envelope, the pushed message parsed once
into wechatpy's typed message, the passive text reply, and long replies split to WeChat's limit.

The envelope and the message are read by one parser (:func:`adapters.wechat.xmldict.xml_dict`, the dict wechatpy
builds its messages from); the envelope's cipher (wechatpy's ``PrpCrypto``) is built once per webhook.

Bodies are at most 64 KiB (413) and must be UTF-8 XML without any DTD (400): a ``<!DOCTYPE``/``<!ENTITY`` is
refused before a parser sees it, so nothing is ever expanded.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any
from xml.parsers import expat

import flask
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from adapters.wechat.xmldict import xml_dict

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW_S = 300
REPLY_LIMIT_BYTES = 2048
"""WeChat's limit on the content of one passive reply (and what we put in one customer-service message)."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class Refused(Exception):
    """A request the webhook refuses, with the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- signatures, body ----------------------------------------------------------------------------------------
def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts (token, timestamp, nonce[, encrypted body])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def check_signature(signature: str, *parts: str) -> bool:
    """Whether ``signature`` signs ``parts``, compared in constant time (wechatpy's own check uses ``!=``)."""
    return hmac.compare_digest(sign(*parts).encode(), signature.encode())


def check_request_signature(token: str, signature: str, timestamp: str, nonce: str, *, now: float) -> None:
    """Raise 403 unless ``signature`` is right and ``timestamp`` is within 300 s of ``now`` (the real wall clock:
    a simulated clock must not open or close the replay window)."""
    if not check_signature(signature, token, timestamp, nonce):
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


# --- XML -----------------------------------------------------------------------------------------------------
def checked_xml(raw: bytes | str) -> str:
    """The text of a body a parser may see: UTF-8, without a DTD (400 otherwise)."""
    try:
        xml = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise Refused(400, "not UTF-8") from None
    if _DTD.search(xml):
        raise Refused(400, "DTD not allowed")  # before any parser: no entity is ever expanded
    return xml


def envelope_encrypt(raw: bytes) -> str:
    """The ``<Encrypt>`` text of a safe-mode envelope (all the envelope holds that is signed); 400 without one."""
    try:
        root = xml_dict(checked_xml(raw)).get("xml")  # expat never sees a DTD (refused above)
    except (expat.ExpatError, ValueError):
        raise Refused(400, "malformed XML") from None
    encrypted = root.get("Encrypt") if isinstance(root, dict) else None
    if not encrypted or not isinstance(encrypted, str):
        raise Refused(400, "no Encrypt")
    return encrypted


def parse_wechat_message(raw: bytes | str) -> BaseMessage:
    """wechatpy's typed message of a pushed XML text (``TextMessage``, ``ClickEvent``... ``UnknownMessage``); 400
    when it is not XML, or lacks a sender, an addressee, a time or a type, or its fields are not what they say."""
    xml = checked_xml(raw)
    if not xml:
        raise Refused(400, "missing fields")
    try:
        message = typed_message(xml_dict(xml)["xml"])
        complete = bool(message.source.strip() and message.target.strip())
        # the integer fields convert when read, or raise; an event's MsgId may be absent (None)
        complete = complete and isinstance(message.time, int) and message.time >= 0 and (message.id or 0) >= 0
    except Exception:  # expat's errors; a missing MsgType (KeyError); a CreateTime or MsgId that is no number
        raise Refused(400, "malformed message") from None
    if not complete:
        raise Refused(400, "missing fields")
    return message


def typed_message(fields: dict[str, Any]) -> BaseMessage:
    """wechatpy's typed message of the fields of a pushed XML, told apart as ``wechatpy.parse_message`` does."""
    message_type = fields["MsgType"].lower()
    if message_type != "event" and not message_type.startswith("device_"):
        return MESSAGE_TYPES.get(message_type, UnknownMessage)(fields)
    event_type = fields["Event"].lower() if "Event" in fields else None
    if event_type is None and message_type.startswith("device_"):
        event_type = message_type
    elif message_type.startswith("device_"):
        event_type = f"device_{event_type}"
    if event_type == "subscribe" and fields.get("EventKey"):
        event_key = fields["EventKey"]
        if event_key.startswith(("scanbarcode|", "scanimage|")):
            event_type = fields["Event"] = "subscribe_scan_product"
        elif event_key.startswith("qrscene_"):
            event_type = fields["Event"] = "subscribe_scan"
            fields["EventKey"] = event_key[len("qrscene_") :]
    return EVENT_TYPES.get(event_type, UnknownMessage)(fields)


class Envelope:
    """Safe mode's AES envelope with wechatpy's own cipher (``PrpCrypto``, built once: it keeps no state between
    messages) and signature: the pushed message opened, the reply sealed as ``WeChatCrypto.encrypt_message`` does."""

    _SEALED = (
        "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
        "<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
    )

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._app_id = app_id
        self._cipher = PrpCrypto(WeChatCrypto(token, encoding_aes_key, app_id).key)

    def open(self, encrypted: str) -> str:
        """The XML text in an ``<Encrypt>`` whose signature was checked; raises when it is not ours to read (bad
        base64, padding, app id or UTF-8)."""
        return str(self._cipher.decrypt(encrypted, self._app_id))

    def seal(self, xml: str, nonce: str, timestamp: str) -> str:
        """The envelope of a reply, signed for ``timestamp`` and ``nonce``."""
        encrypted = self._cipher.encrypt(xml, self._app_id).decode()
        signature = sign(self._token, timestamp, nonce, encrypted)
        return self._SEALED.format(encrypt=encrypted, signature=signature, timestamp=timestamp, nonce=nonce)


def plain(value: object) -> str:
    """A typed message's text field as text; "" when absent or not plain text (an element with children, a
    repeated element: wechatpy hands those over as they were parsed)."""
    return value if isinstance(value, str) else ""


def _cdata(value: str) -> str:
    """A value that stays inside wechatpy's ``<![CDATA[...]]>`` whatever it holds."""
    return value.replace("]]>", "]]]]><![CDATA[>")


def render_text_reply(message: BaseMessage, content: str) -> str:
    """The passive text reply XML to a message: from the account it was sent to, to its sender."""
    reply = TextReply(
        source=_cdata(message.target),
        target=_cdata(message.source),
        content=_cdata(content),
        time=int(time.time()),
    )
    return str(reply.render())


# --- reply splitting -------------------------------------------------------------------------------------------
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
