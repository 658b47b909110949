"""One-time SMS codes that prove a phone (RULES §1): send within limits, verify with a bounded number of tries.

Only a keyed hash of a code is stored, bound to the phone and the purpose; the clear code exists only in the
text handed to the sender (never log it). Times come from the injected clock, so tests and the simulator move them.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import redis

import rules
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.notifications.outbox import OutboundMessage, OutboxKind, Sender, SendResult
from bot.patients import InvalidInputError, phone_hash
from bot.storage import keys
from bot.storage.scripts import Scripts
from texts import text

_SEPARATORS = re.compile(r"[\s\-_.,]+")
# a code read out digit by digit, as people type it: 一二三四五六 (幺 is "one" when reading digits aloud);
# a table rather than cn2an, which reads 一二三 as a number and would drop a leading 零
_CHINESE_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")


class OtpRateLimitedError(GuahaoError):
    """No code may be sent to this phone before ``retry_after``; ``reason`` is "resend" (one per
    ``otp_resend_seconds``) or "hourly" (``otp_max_per_hour`` per rolling hour)."""

    def __init__(self, retry_after: datetime, reason: str) -> None:
        super().__init__(f"too many codes for this phone; retry after {retry_after.isoformat()}")
        self.retry_after = retry_after
        self.reason = reason


class OtpDeliveryError(GuahaoError):
    """The sender refused the code's message (the code is stored and the send counts towards the limits)."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(f"the code could not be sent: {result.error or 'unknown error'}")
        self.result = result


class OtpResult(StrEnum):
    """Outcome of checking a code."""

    ok = "ok"  # right: the code is used up
    wrong = "wrong"  # wrong: one attempt fewer left
    malformed = "malformed"  # not otp_length digits at all: a typing mistake, no attempt used up
    expired = "expired"  # too late: ask for a new code
    too_many_attempts = "too_many_attempts"  # burnt after otp_max_attempts wrong tries: ask for a new code
    none = "none"  # no code was sent (or it is long gone)


@dataclass(frozen=True)
class OtpSent:
    """A code was sent: valid until ``expires_at``; the next one may be asked for from ``resend_at``."""

    phone_masked: str
    expires_at: datetime
    resend_at: datetime
    result: SendResult


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: bytes | str) -> datetime:
    raw = value.decode() if isinstance(value, bytes) else value
    return datetime.fromtimestamp(int(float(raw)) / 1000, UTC)


def otp_text(code: str, ttl_seconds: int, language: str = "zh") -> str:
    """The SMS that carries a code (its words: ``texts/otp.py``)."""
    return text(language, "otp.code", code=code, minutes=max(1, math.ceil(ttl_seconds / 60)))


def read_code(typed: str) -> str:
    """A code as typed, in ASCII digits: full-width digits and Chinese numerals read, spaces and dashes dropped."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", typed)).translate(_CHINESE_DIGITS)


class OtpService:
    """Sends and checks one-time codes per (phone, purpose), e.g. purpose "verify" or "add_patient"."""

    def __init__(
        self, redis_client: redis.Redis, box: SecretBox, clock: Clock, policy: rules.Policy, sender: Sender
    ) -> None:
        self._redis = redis_client
        self._box = box
        self._clock = clock
        self._policy = policy
        self._sender = sender
        self._scripts = Scripts(redis_client, "otp_send", "otp_verify")

    @staticmethod
    def _mobile(phone: str) -> str:
        mobile = rules.normalize_mobile(phone)
        if mobile is None:
            raise InvalidInputError("phone", "format")
        return mobile

    def _code_hash(self, code: str, phone_key: str, purpose: str) -> str:
        return self._box.lookup_hash(code, kind=f"otp:{phone_key}:{purpose}")

    def send(self, phone: str, purpose: str, language: str = "zh") -> OtpSent:
        """Send a fresh code to ``phone`` (replacing any live one for the purpose), within the send limits.

        Raises :class:`OtpRateLimitedError` (with ``retry_after``), :class:`InvalidInputError` for a bad phone and
        :class:`OtpDeliveryError` when the sender refuses the message.
        """
        mobile = self._mobile(phone)
        phone_key = phone_hash(self._box, mobile)
        policy = self._policy
        code = "".join(secrets.choice("0123456789") for _ in range(policy.otp_length))
        now = self._clock.now()
        status = self._scripts.run(
            "otp_send",
            keys=[keys.otp(phone_key, purpose), keys.otp_sends(phone_key)],
            args=[
                _ms(now),
                policy.otp_resend_seconds * 1000,
                policy.otp_max_per_hour,
                policy.otp_ttl_seconds * 1000,
                self._code_hash(code, phone_key, purpose),
                secrets.token_hex(8),
            ],
        )
        kind = status[0].decode() if isinstance(status[0], bytes) else status[0]
        if kind == "wait":
            reason = status[2].decode() if isinstance(status[2], bytes) else status[2]
            raise OtpRateLimitedError(_from_ms(status[1]), reason)
        expires_at = _from_ms(status[1])
        result = self._sender.send(
            OutboundMessage(
                channel="sms",
                to=mobile,
                kind=OutboxKind.otp,
                text=otp_text(code, policy.otp_ttl_seconds, language),
                facts={"code": code, "minutes": str(max(1, math.ceil(policy.otp_ttl_seconds / 60))), "lang": language},
            )
        )
        if not result.ok:
            raise OtpDeliveryError(result)
        return OtpSent(
            phone_masked=rules.mask_phone(mobile),
            expires_at=expires_at,
            resend_at=now + timedelta(seconds=policy.otp_resend_seconds),
            result=result,
        )

    def verify(self, phone: str, purpose: str, code: str) -> OtpResult:
        """Check ``code`` (full-width digits, Chinese numerals and spaces accepted); right codes work once."""
        mobile = self._mobile(phone)
        phone_key = phone_hash(self._box, mobile)
        cleaned = read_code(code)
        malformed = not (cleaned.isascii() and cleaned.isdigit() and len(cleaned) == self._policy.otp_length)
        outcome = self._scripts.run(
            "otp_verify",
            keys=[keys.otp(phone_key, purpose)],
            args=[
                self._code_hash(cleaned, phone_key, purpose),
                _ms(self._clock.now()),
                self._policy.otp_max_attempts,
                "1" if malformed else "0",
            ],
        )
        result = OtpResult(outcome.decode() if isinstance(outcome, bytes) else outcome)
        # the script leaves a malformed code's try untouched; say so, so the patient gets a hint, not "wrong"
        return OtpResult.malformed if malformed and result is OtpResult.wrong else result
