"""SMS over Twilio: the inbound webhook (``POST /sms/twilio``), delivery callbacks (``POST /sms/twilio/status``),
and the SMS one-shot commands (SPEC §5).

The sender's phone is the account: a phone verified for a patient on any channel already acts for that patient,
an unknown one is walked through verification (name, ID number; the channel proves the phone). A whole message
that is a command (``预约``/``BOOK``, ``查询``/``LIST``, ``取消 <serial>``/``CANCEL <serial>``, ``帮助``/``HELP``,
``候补``/``WAIT``, ``退出候补 <n>``/``LEAVE <n>``, ``改约 <serial>``/``MOVE <serial>``)
opens that conversation from any step; ``TD``/``退订``/``STOP`` and Twilio's own opt-out keywords (a message that is
only STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT or CANCEL: Twilio blocks later sends to that phone)
opt the phone out of reminders, ``START``/``订阅`` back in; anything else is the same dialog as WeChat. Requests
are checked with twilio's ``RequestValidator`` against ``server.public_url`` + the path, so the check holds behind
a proxy or a tunnel. A retried ``MessageSid`` is answered from what the first delivery replied, once processed: the
engine's delivery ledger (:mod:`bot.delivery`) for a dialog step, the same ledger for what the adapter answers itself.
The step runs on the request thread within :data:`REPLY_DEADLINE_S` (Twilio waits 15 s); one that cannot finish by
then answers an empty ``<Response/>`` and is handed to the worker, which sends its reply as SMS, once.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import redis
from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from twilio.twiml.messaging_response import MessagingResponse

import rules
from adapters.sms.twilio import OPT_OUT_ERROR, STATUS_PATH, DeliveryLog, PhoneOptOuts
from bot.clock import Clock
from bot.config import Config
from bot.crypto import SecretBox
from bot.delivery import DeliveryLedger
from bot.patients import PatientService, account_id
from bot.storage import keys
from bot.storage.runtime import unavailable
from dialogs.engine import Conversation, Fate, HandOff
from dialogs.message import Channel, Inbound
from texts import text

log = logging.getLogger(__name__)

INBOUND_PATH = "/sms/twilio"
REPLY_DEADLINE_S = 10.0
"""From a request's arrival, how long its step may take before the reply goes by the worker (Twilio waits 15 s)."""
MAX_FORM_BYTES = 64 * 1024
"""Twilio's forms are a few hundred bytes (an SMS body is at most 1,600 characters)."""

TWILIO_OPT_OUT = frozenset({"stop", "unsubscribe", "end", "quit", "stopall", "revoke", "optout", "cancel"})
"""Twilio's carrier-level opt-out keywords (a message that is only one of these): Twilio blocks later sends."""
OWN_OPT_OUT = frozenset({"td", "退订"})
OPT_IN = frozenset({"start", "unstop", "订阅"})
COMMANDS = {
    "预约": "book",
    "book": "book",
    "查询": "list",
    "list": "list",
    "帮助": "help",
    "help": "help",
    "候补": "waitlist",
    "我的候补": "waitlist",
    "wait": "waitlist",
}
_CANCEL = re.compile(r"(?:取消|cancel) ?#?([0-9]{8})")
_MOVE = re.compile(r"(?:改约|move) ?#?([0-9]{8})")
_LEAVE = re.compile(r"(?:退出候补|leave) ?#?([0-9]{1,2})")
_SPACES = re.compile(r"\s+")
_TRAILING = "。.!? "
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# --- segments (what an SMS costs) --------------------------------------------------------------------------
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
SEGMENTS_PER_REPLY = 2


def is_gsm(text: str) -> bool:
    """Whether ``text`` can be sent in the GSM 7-bit alphabet (else it goes as UCS-2, 70 characters a part)."""
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def sms_segments(text: str) -> int:
    """How many SMS parts ``text`` takes: GSM 7-bit 160 (153 per part when split), UCS-2 70 (67 per part)."""
    if not text:
        return 0
    if is_gsm(text):
        units, single, part = sum(2 if c in _GSM_EXTENDED else 1 for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def pack(paragraphs: Sequence[str], segments: int = SEGMENTS_PER_REPLY) -> list[str]:
    """The paragraphs of a reply as SMS messages: joined (blank line between) while they fit in ``segments``
    parts; a paragraph too long by itself goes alone (the dialogs page long lists)."""
    messages: list[str] = []
    for paragraph in (p.strip() for p in paragraphs):
        if not paragraph:
            continue
        if messages and sms_segments(joined := f"{messages[-1]}\n\n{paragraph}") <= segments:
            messages[-1] = joined
        else:
            messages.append(paragraph)
    return messages


def twiml(messages: Sequence[str]) -> str:
    """``<Response><Message>…</Message>…</Response>``; no message → an empty ``<Response />``."""
    response = MessagingResponse()
    for body in messages:
        response.message(body)
    return str(response.to_xml())


# --- reading a message ---------------------------------------------------------------------------------------
def sender_phone(value: str) -> str | None:
    """The account of an SMS sender: a mainland mobile in any form → E.164, another E.164 number as given."""
    mobile = rules.normalize_mobile(value)
    if mobile is not None:
        return mobile
    value = value.strip()
    return value if _E164.fullmatch(value) else None


def command_text(body: str) -> str:
    """A message as commands are matched: full-width folded, spaces collapsed, trailing 。!? dropped, lower case."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", body)).strip()
    return folded.rstrip(_TRAILING).casefold()


@dataclass(frozen=True)
class Parsed:
    """What one SMS asks for: ``opt`` ("out"/"in") for the adapter, else an engine ``command`` (or plain text)."""

    opt: str | None = None
    twilio_keyword: bool = False
    command: str | None = None


def parse(body: str) -> Parsed:
    """Classify a whole message (SPEC §5): opt-out/in, a one-shot command, or None of them (plain dialog text)."""
    typed = command_text(body)
    if typed in TWILIO_OPT_OUT:
        return Parsed(opt="out", twilio_keyword=True)  # bare CANCEL included: Twilio has already opted them out
    if typed in OWN_OPT_OUT:
        return Parsed(opt="out")
    if typed in OPT_IN:
        return Parsed(opt="in")
    if typed in COMMANDS:
        return Parsed(command=COMMANDS[typed])
    cancel = _CANCEL.fullmatch(typed)
    if cancel:
        return Parsed(command=f"cancel {cancel.group(1)}")
    move = _MOVE.fullmatch(typed)
    if move:
        return Parsed(command=f"move {move.group(1)}")
    leave = _LEAVE.fullmatch(typed)
    if leave:
        return Parsed(command=f"leave {leave.group(1)}")
    return Parsed()


# --- answering -----------------------------------------------------------------------------------------------
class SmsInbox:
    """Answers one inbound SMS, whatever the provider: opt-out/in here, everything else through the engine."""

    def __init__(
        self,
        engine: Conversation,
        patients: PatientService,
        box: SecretBox,
        redis_client: redis.Redis,
        hand_off: HandOff | None = None,
    ) -> None:
        self.engine = engine
        self.hand_off = hand_off
        self.opt_outs = PhoneOptOuts(patients, box)
        self._patients = patients
        self._box = box
        self._ledger = DeliveryLedger(redis_client, box)

    def handle(
        self,
        phone: str,
        body: str,
        message_id: str | None = None,
        carrier_opt: str | None = None,
        deadline: float | None = None,
    ) -> list[str]:
        """The reply paragraphs to ``body`` from ``phone`` (E.164); a ``message_id`` seen before gets the same.

        ``carrier_opt`` is what the provider itself made of the message ("STOP"/"START", Twilio's ``OptOutType``
        under Advanced Opt-Out, which may have keywords of its own configured): it wins over the text. With a
        ``deadline`` (``time.monotonic()``) and a ``hand_off``, a step that cannot answer by then is handed to the
        worker (no reply now); without, the step is waited for.
        """
        parsed = parse(body)
        if carrier_opt in ("STOP", "START"):
            parsed = Parsed(opt="out" if carrier_opt == "STOP" else "in", twilio_keyword=True)
        if parsed.opt is None:
            inbound = Inbound(Channel.sms, phone, body, message_id=message_id, command=parsed.command)
            if deadline is None or self.hand_off is None:
                return [o.text for o in self.engine.handle(inbound)]
            answer = self.engine.answer(inbound, deadline)
            if answer.fate == Fate.HAND_OFF:  # even when the step ran (late): its reply is the worker's to send
                log.warning("sms step late: empty TwiML, the worker sends the reply")
                self.hand_off(inbound, 0)
                return []
            return [o.text for o in answer.replies]
        seen = keys.sms_seen(message_id) if message_id else None
        return self._ledger.once(seen, lambda: self._opt(phone, parsed))

    def _opt(self, phone: str, parsed: Parsed) -> list[str]:
        opting_out = parsed.opt == "out"
        self.opt_outs.set(phone, opting_out)
        log.info("sms opt-%s", parsed.opt, extra={"twilio_keyword": parsed.twilio_keyword})
        key = ("opted_out_twilio" if parsed.twilio_keyword else "opted_out") if opting_out else "opted_in"
        return [self.text(phone, key)]

    def text(self, phone: str, key: str) -> str:
        """One of the adapter's own replies (``texts/sms.py``) in the language the phone's account chose."""
        language = self._patients.account_language(account_id(self._box, Channel.sms.value, phone))
        return text(language or "zh", f"sms.{key}")


# --- the web side --------------------------------------------------------------------------------------------
class TwilioSignatures:
    """Checks ``X-Twilio-Signature`` with twilio's own ``RequestValidator`` (built once: it holds only the token)
    against ``public_url`` + the request's path.

    Twilio signs the URL it was configured with, which is the public one (behind a proxy or tunnel the app sees
    another host). No auth token configured → nothing can be checked → nothing is accepted.
    """

    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None
        self._base = public_url.rstrip("/")

    def signed(self) -> bool:
        """Whether the current request carries a valid signature: ``RequestValidator.validate``'s answer, the URL
        with its port signed only when the URL without it is not (``validate`` signs both every time)."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if self._validator is None or not signature:
            return False
        url = (self._base or request.host_url.rstrip("/")) + request.path
        if request.query_string:
            url += "?" + request.query_string.decode("latin-1")
        parsed, form = urlparse(url), _Form(request.form.lists())
        return any(
            compare(self._validator.compute_signature(variant(parsed), form), signature)
            for variant in (remove_port, add_port)
        )


class _Form(dict[str, list[str]]):
    """A form's values by name, read by ``RequestValidator.get_values`` through its first accessor (it tries
    ``getall``, then ``getlist``, then indexing: a werkzeug form costs it an exception per field)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def sms_blueprint(
    engine: Conversation,
    *,
    patients: PatientService,
    box: SecretBox,
    redis_client: redis.Redis,
    clock: Clock,
    config: Config,
    hand_off: HandOff | None = None,
    reply_deadline: float = REPLY_DEADLINE_S,
) -> Blueprint:
    """``POST /sms/twilio`` (inbound, TwiML reply) and ``POST /sms/twilio/status`` (delivery callbacks); a step late
    for ``reply_deadline`` goes to ``hand_off`` (the worker sends its reply)."""
    blueprint = Blueprint("sms", __name__)
    inbox = SmsInbox(engine, patients, box, redis_client, hand_off)
    deliveries = DeliveryLog(redis_client, clock)
    signatures = TwilioSignatures(config.sms.auth_token, config.server.public_url)

    def checked_form() -> None:
        if (request.content_length or 0) > MAX_FORM_BYTES:
            abort(413)
        if not signatures.signed():
            log.warning("sms webhook: bad or missing signature", extra={"path": request.path})
            abort(403)

    @blueprint.post(INBOUND_PATH)
    def inbound() -> Response:
        deadline = time.monotonic() + reply_deadline
        checked_form()
        sender, body = request.form.get("From"), request.form.get("Body")
        phone = sender_phone(sender) if sender is not None else None
        if phone is None or body is None:
            abort(400)
        message_id = request.form.get("MessageSid") or request.form.get("SmsSid") or None
        carrier_opt = (request.form.get("OptOutType") or "").strip().upper() or None
        try:
            replies = inbox.handle(phone, body, message_id, carrier_opt, deadline)
        except Exception as failed:  # SPEC §7: the user is told, in TwiML, rather than Twilio getting an error page
            if not unavailable(failed):
                raise
            log.warning("sms answered busy: Redis unavailable")
            replies = [text("zh", "common.busy")]
        return Response(twiml(pack(replies)), mimetype="text/xml")

    @blueprint.post(STATUS_PATH)
    def status() -> Response:
        checked_form()
        sid = request.form.get("MessageSid") or request.form.get("SmsSid")
        state = request.form.get("MessageStatus") or request.form.get("SmsStatus")
        if not sid or not state:
            abort(400)
        error_code = (request.form.get("ErrorCode") or "").strip()
        deliveries.record(sid, state, error_code or None)
        if error_code == str(OPT_OUT_ERROR):
            to = sender_phone(request.form.get("To") or "")
            if to is not None:
                inbox.opt_outs.set(to, True)
        return Response(status=204)

    return blueprint
