"""The mainland providers' callbacks (SPEC §9): inbound SMS (上行) and delivery reports (回执).

* ``POST /sms/aliyun/up``: Aliyun's SmsUp message report over HTTP, a JSON array of
  ``{"phone_number", "content", "sequence_id", "send_time", "dest_code", "sign_name"}``;
  ``POST /sms/aliyun/report``: its SmsReport, ``[{"phone_number", "success", "err_code", "err_msg", "biz_id", …}]``.
  Answered ``{"code": 0, "msg": "成功"}`` (anything else makes Aliyun deliver again).
* ``POST /sms/tencentcloud/up``: Tencent Cloud's reply callback, ``{"mobile", "nationcode", "text", "time", "sign",
  "extend"}`` (one object, or an array of them); ``POST /sms/tencentcloud/report``: its status callback,
  ``[{"mobile", "report_status", "errmsg", "sid", …}]``. Answered ``{"result": 0, "errmsg": "OK"}``.

Neither provider signs these pushes, so the URL configured in their consoles carries a shared secret,
``?token=<[sms] inbound_token>``, compared in constant time: a wrong or missing token → 403; a body that is not the
provider's JSON → 400. A message is processed once per provider message id (Aliyun's ``sequence_id``; Tencent Cloud
gives none, so a keyed hash of number, time and text stands for it), through the engine's delivery ledger, and goes
to the same one-shot commands as any SMS (:class:`adapters.sms.webhook.SmsInbox`: 预约, 查询, 取消 <serial>, TD…).
The reply cannot be a passive answer here: it is sent through the sender as a ``reply`` (the ``reply_short``
template), once per inbound message id, even when the provider delivers the callback twice.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, jsonify, request

from adapters.sms.twilio import DeliveryLog
from adapters.sms.webhook import SmsInbox, sender_phone
from bot.crypto import SecretBox
from bot.notifications.outbox import OutboundMessage, OutboxKind, Sender
from bot.patients import PatientService, account_id
from bot.storage.runtime import unavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""A batch of reports is a few hundred bytes per message; providers push at most a few hundred at once."""


@dataclass(frozen=True)
class Incoming:
    """One inbound SMS as a provider reported it."""

    phone: str
    text: str
    message_id: str


@dataclass(frozen=True)
class Report:
    """One delivery report: the provider's id of the message sent, delivered or not, the provider's error code."""

    message_id: str
    delivered: bool
    error_code: str


@dataclass(frozen=True)
class Provider:
    """How one provider's callbacks read and how they are answered."""

    name: str
    ok: dict[str, Any]
    incoming: Callable[[Any, SecretBox], Iterator[Incoming]]
    reports: Callable[[Any], Iterator[Report]]


def _items(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ValueError("expected a JSON object or an array of objects")
    return items


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no {key}")
    return value


def _phone(value: str) -> str:
    phone = sender_phone(value)
    if phone is None:
        raise ValueError("not a phone number")
    return phone


def aliyun_incoming(payload: Any, box: SecretBox) -> Iterator[Incoming]:
    """Aliyun's SmsUp items."""
    for item in _items(payload):
        content = item.get("content")
        if not isinstance(content, str):
            raise ValueError("no content")
        yield Incoming(_phone(_text(item, "phone_number")), content, "aliyun:" + _text(item, "sequence_id"))


def aliyun_reports(payload: Any) -> Iterator[Report]:
    """Aliyun's SmsReport items."""
    for item in _items(payload):
        success = item.get("success")
        if not isinstance(success, bool):
            raise ValueError("no success")
        yield Report(_text(item, "biz_id"), success, str(item.get("err_code") or ""))


def tencent_incoming(payload: Any, box: SecretBox) -> Iterator[Incoming]:
    """Tencent Cloud's reply callback items; the message id is a keyed hash of number, time and text."""
    for item in _items(payload):
        text = item.get("text")
        if not isinstance(text, str):
            raise ValueError("no text")
        nation = str(item.get("nationcode") or "86")
        phone = _phone(_text(item, "mobile") if nation == "86" else f"+{nation}{_text(item, 'mobile')}")
        at = _text(item, "time")
        yield Incoming(phone, text, "tencentcloud:" + box.lookup_hash(f"{phone}|{at}|{text}", kind="sms-up"))


def tencent_reports(payload: Any) -> Iterator[Report]:
    """Tencent Cloud's status callback items."""
    for item in _items(payload):
        status = _text(item, "report_status").upper()
        yield Report(
            _text(item, "sid"), status == "SUCCESS", "" if status == "SUCCESS" else str(item.get("errmsg") or "")
        )


PROVIDERS = {
    "aliyun": Provider("aliyun", {"code": 0, "msg": "成功"}, aliyun_incoming, aliyun_reports),
    "tencentcloud": Provider("tencentcloud", {"result": 0, "errmsg": "OK"}, tencent_incoming, tencent_reports),
}


def token_matches(expected: str) -> bool:
    """Whether the request's ``?token=`` is ``expected`` (constant time); nothing configured → never."""
    given = request.args.get("token", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def mainland_blueprint(
    provider: str,
    *,
    inbox: SmsInbox,
    sender: Sender,
    deliveries: DeliveryLog,
    patients: PatientService,
    box: SecretBox,
    inbound_token: str,
) -> Blueprint:
    """``POST /sms/<provider>/up`` and ``POST /sms/<provider>/report`` for one mainland provider."""
    spec = PROVIDERS[provider]
    blueprint = Blueprint(f"sms_{provider}", __name__)

    def checked_json() -> Any:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            abort(413)
        if not token_matches(inbound_token):
            log.warning("sms callback: wrong or missing token", extra={"path": request.path})
            abort(403)
        payload = request.get_json(silent=True)
        if payload is None:
            abort(400)
        return payload

    @blueprint.post(f"/sms/{provider}/up")
    def inbound() -> Any:
        payload = checked_json()
        try:
            messages = list(spec.incoming(payload, box))
        except ValueError as malformed:
            log.warning("sms callback: malformed", extra={"path": request.path, "error": str(malformed)})
            abort(400)
        try:
            for message in messages:
                _answer(inbox, sender, provider, message, lambda phone: language_of(patients, box, phone))
        except Exception as failed:  # nothing could be recorded: the provider delivers it again later
            if not unavailable(failed):
                raise
            log.warning("sms callback refused for now: Redis unavailable")
            return jsonify({"error": "temporarily unavailable"}), 503
        return jsonify(spec.ok)

    @blueprint.post(f"/sms/{provider}/report")
    def report() -> Any:
        payload = checked_json()
        try:
            reports = list(spec.reports(payload))
        except ValueError:
            abort(400)
        for item in reports:
            deliveries.record(
                item.message_id, "delivered" if item.delivered else "undelivered", item.error_code or None
            )
        return jsonify(spec.ok)

    return blueprint


def language_of(patients: PatientService, box: SecretBox, phone: str) -> str:
    """The language of an SMS account (``zh`` unless it chose English)."""
    return patients.account_language(account_id(box, "sms", phone)) or "zh"


def _answer(inbox: SmsInbox, sender: Sender, provider: str, message: Incoming, language: Callable[[str], str]) -> None:
    """Process one inbound SMS once and send its reply once (by its message id), as a ``reply`` in the language
    the account has after it (``English`` is answered in English)."""
    replies = inbox.handle(message.phone, message.text, message.message_id)
    if not replies:
        return
    text = "\n\n".join(replies)
    key = f"sms-reply:{message.message_id}"
    facts = {"lang": language(message.phone)}
    reply = OutboundMessage("sms", message.phone, OutboxKind.reply, text, key, facts=facts)
    try:
        result = sender.send(reply)
    except Exception as failed:  # the command was processed: its reply is lost, the callback still answered
        if unavailable(failed):
            raise
        log.warning("sms reply not sent", extra={"provider": provider, "error": type(failed).__name__})
        return
    if not result.ok:
        log.warning("sms reply not sent", extra={"provider": provider, "error": result.error})
