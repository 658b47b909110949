"""Outbound SMS through Twilio (codes, confirmations, reminders, broadcasts), and what Twilio reports back.

:class:`TwilioSender` is a :class:`bot.notifications.outbox.Sender`: the worker hands it an :class:`OutboundMessage`
and gets a :class:`SendResult`. It goes through the twilio SDK's REST ``Client`` (pointed at ``[sms] api_base_url``,
so a proxy or the tests' local stand-in can answer), sends from ``from_number`` or through
``messaging_service_sid``, asks for delivery callbacks at ``<public_url>/sms/twilio/status``, retries 429 and 5xx a
bounded number of times with backoff (never other 4xx), sends one idempotency key once (:class:`SendLedger`),
refuses reminders to a phone that opted out (confirmations, cancellations and codes always go, RULES §7), and turns
Twilio error 21610 (the recipient texted STOP to Twilio) into an opt-out.

Another SMS provider: Twilio offers no two-way SMS for mainland (+86) numbers, so a deployment in China uses a
domestic provider (``aliyun.py``, ``tencentcloud.py`` over ``mainland.py``), a class with the same one method,
``send(message: OutboundMessage) -> SendResult``, which is the whole provider interface
(``bot.notifications.outbox.Sender``).
Give it the same habits as this one: the ledger for idempotency, :class:`PhoneOptOuts` for reminders, the
provider's "unsubscribed" error mapped to ``error="opted_out"``; add its name to ``[sms] provider`` and pick it
in the composition root (``app/services.py``). Its inbound side, if it has one, is a blueprint beside
``adapters/sms/webhook.py`` that feeds :class:`adapters.sms.webhook.SmsInbox`, which knows nothing of Twilio.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
import requests
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.clock import Clock
from bot.config import SmsConfig
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.notifications.outbox import OutboundMessage, OutboxKind, SendLedger, SendResult, recipient
from bot.patients import PatientService, phone_hash
from bot.records import decode_hash
from bot.storage import keys

log = logging.getLogger(__name__)

OPT_OUT_ERROR = 21610
"""Twilio: "Attempt to send to unsubscribed recipient" (the phone texted STOP or another opt-out keyword)."""
OPTED_OUT = "opted_out"
"""The ``SendResult.error`` of a message refused because its recipient opted out."""
OPTIONAL_KINDS = frozenset({OutboxKind.reminder})
"""Kinds a phone may opt out of (RULES §7: reminders 2–4); every other kind is always sent."""
STATUS_TTL = timedelta(days=7)
STATUS_PATH = "/sms/twilio/status"
REQUEST_TIMEOUT_S = 10.0
TWILIO_API = "https://api.twilio.com"
"""Where the SDK sends when ``[sms] api_base_url`` is empty."""

# Twilio message statuses, by how far along they are: a late callback never moves a message backwards.
_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "partially_delivered": 3,
    "read": 4,
}


class TwilioConfigError(GuahaoError):
    """``[sms] provider = "twilio"`` without what sending needs (account SID, auth token, a sender)."""


class PhoneOptOuts:
    """Which phones opted out of reminders; any accepted form of a number (the patients service keys it)."""

    def __init__(self, patients: PatientService, box: SecretBox) -> None:
        self._patients = patients
        self._box = box

    def is_opted_out(self, phone: str) -> bool:
        """Whether ``phone`` opted out of reminders."""
        return self._patients.is_opted_out(phone_hash(self._box, phone))

    def set(self, phone: str, opted_out: bool) -> None:
        """Opt ``phone`` out of reminders (TD/STOP, error 21610) or back in (START/订阅)."""
        self._patients.set_opt_out(phone_hash(self._box, phone), opted_out)


def twilio_client(config: SmsConfig, timeout: float = REQUEST_TIMEOUT_S) -> Client:
    """The SDK's REST client for ``config``, sending to ``api_base_url`` instead of api.twilio.com when set.

    The Messages resource lives on the ``api`` domain; its ``base_url`` is the one place twilio-python builds the
    absolute URL from (edge/region rewriting only applies when those are configured, and they are not here).
    """
    client = Client(config.account_sid, config.auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client.api.base_url = (config.api_base_url or TWILIO_API).rstrip("/")
    return client


def default_backoff(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1`` (attempt counts from 1): 0.5 s, 1 s, 2 s... with jitter."""
    return float(min(0.5 * 2 ** (attempt - 1), 8.0) * random.uniform(0.8, 1.2))  # noqa: S311 - not a secret


def _last_answer(state: RetryCallState) -> tuple[SendResult, bool]:
    assert state.outcome is not None  # tenacity calls this after an attempt, so there is one
    answer: tuple[SendResult, bool] = state.outcome.result()
    return answer


class TwilioSender:
    """A :class:`bot.notifications.outbox.Sender` for the SMS channel over the Twilio REST API."""

    def __init__(
        self,
        config: SmsConfig,
        *,
        ledger: SendLedger,
        opt_outs: PhoneOptOuts,
        public_url: str = "",
        client: Client | None = None,
        tries: int = 3,
        backoff: Callable[[int], float] = default_backoff,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.account_sid or not config.auth_token:
            raise TwilioConfigError("[sms] provider twilio needs account_sid and auth_token")
        if not config.from_number and not config.messaging_service_sid:
            raise TwilioConfigError("[sms] provider twilio needs from_number or messaging_service_sid")
        self._config = config
        self._ledger = ledger
        self._opt_outs = opt_outs
        self._client = client if client is not None else twilio_client(config)
        self._status_callback = public_url.rstrip("/") + STATUS_PATH if public_url else None
        self._tries = max(1, tries)
        self._backoff = backoff
        self._sleep = sleep

    def send(self, message: OutboundMessage) -> SendResult:
        """Send ``message`` once: refused when its kind is optional and the phone opted out; a key already used
        returns the first result without a request."""
        to = recipient("sms", message.to)
        if message.kind in OPTIONAL_KINDS and self._opt_outs.is_opted_out(to):
            return SendResult(ok=False, error=OPTED_OUT)
        return self._ledger.once(message.idempotency_key, lambda: self._send_with_retries(to, message))

    def _send_with_retries(self, to: str, message: OutboundMessage) -> SendResult:
        # tenacity, not rq's Retry: a code is sent from the web request itself, and a reminder's job already holds
        # the send-once marker around this call; a short in-call retry is what both need
        retrying = Retrying(
            stop=stop_after_attempt(self._tries),
            wait=lambda state: self._backoff(state.attempt_number),
            retry=retry_if_result(lambda answer: answer[1]),  # 429, 5xx, or nothing reached Twilio
            sleep=self._sleep,
            retry_error_callback=_last_answer,  # out of tries: the last answer, not tenacity's RetryError
        )
        result: SendResult = retrying(self._try_once, to, message)[0]
        if not result.ok:
            log.warning("sms send failed", extra={"kind": str(message.kind), "error": result.error})
        return result

    def _try_once(self, to: str, message: OutboundMessage) -> tuple[SendResult, bool]:
        """One request: (the result, whether trying again may help)."""
        try:
            created = self._messages().create(**self._arguments(to, message))
        except TwilioRestException as refused:
            if refused.code == OPT_OUT_ERROR:
                self._opt_outs.set(to, True)
                return SendResult(ok=False, error=OPTED_OUT), False
            retry = refused.status == 429 or refused.status >= 500
            return SendResult(ok=False, error=f"twilio_{refused.code or refused.status}"), retry
        except requests.exceptions.ConnectionError:
            return SendResult(ok=False, error="unreachable"), True  # nothing reached Twilio (refused, reset)
        except (requests.exceptions.Timeout, TwilioException):
            return SendResult(ok=False, error="unreachable"), False  # it may have been sent: not again now
        return SendResult(ok=True, provider_id=str(created.sid)), False

    def _messages(self) -> Any:
        return self._client.api.v2010.accounts(self._config.account_sid).messages

    def _arguments(self, to: str, message: OutboundMessage) -> dict[str, Any]:
        arguments: dict[str, Any] = {"to": to, "body": message.text}
        if self._config.messaging_service_sid:
            arguments["messaging_service_sid"] = self._config.messaging_service_sid
        else:
            arguments["from_"] = self._config.from_number
        if self._status_callback:
            arguments["status_callback"] = self._status_callback
        return arguments


class DeliveryLog:
    """Delivery statuses Twilio reported, per message SID (``keys.sms_status``), kept a week."""

    def __init__(self, redis_client: redis.Redis, clock: Clock, ttl: timedelta = STATUS_TTL) -> None:
        self._redis = redis_client
        self._clock = clock
        self._ttl = ttl

    def record(self, sid: str, status: str, error_code: str | None = None) -> bool:
        """Keep ``status`` (and ``error_code``) of ``sid``; False when a later status is already known."""
        key = keys.sms_status(sid)
        status = status.strip().lower()
        rank = _STATUS_RANK.get(status, 0)
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    known = decode_hash(pipe.hgetall(key))
                    if known and _STATUS_RANK.get(known.get("status", ""), 0) > rank:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(
                        key,
                        mapping={"status": status, "error_code": error_code or "", "at": self._clock.now().isoformat()},
                    )
                    pipe.expire(key, self._ttl)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def get(self, sid: str) -> dict[str, str]:
        """What is known of ``sid``: status, error_code, at (empty when nothing)."""
        return decode_hash(self._redis.hgetall(keys.sms_status(sid)))
