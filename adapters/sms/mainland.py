"""What the mainland SMS senders (``aliyun.py``, ``tencentcloud.py``) share (SPEC §9): the habits of the Twilio sender
— one send per idempotency key (:class:`SendLedger`), reminders refused to a phone that opted out, a bounded in-call
retry with backoff (tenacity) of what may pass on a second try — plus what template-only providers need: the message
rendered as its kind's approved template (``templates.py``) and the per-phone limits checked first (``ratelimit.py``).

A provider module supplies :meth:`MainlandSender._try_once`: one request through the provider's own SDK, answered
as a :class:`Answer` — the result, and whether trying again may help — and its :class:`ErrorCodes`. Errors keep one
vocabulary across providers (``SendResult.error``): ``rate_limited`` (a per-phone quota: a retry within seconds
meets it again), ``throttled`` (the API's own request rate: retried), ``template_invalid`` (the template code, its
variables or the signature were refused: a configuration mistake, logged as an error), ``invalid_number`` (the
number cannot receive SMS), ``opted_out`` (the phone unsubscribed with the provider), ``unreachable`` (no answer),
``no_template`` (an optional kind whose template is not filed: nothing sent, the notice given up),
``provider_<code>`` otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt

import rules
from adapters.sms.ratelimit import PhoneRateLimit
from adapters.sms.templates import Rendered, TemplateFactsError, render, template_kind
from adapters.sms.twilio import OPTED_OUT, OPTIONAL_KINDS, PhoneOptOuts, default_backoff
from bot.config import OPTIONAL_TEMPLATE_KINDS, SmsConfig
from bot.notifications.outbox import NO_TEMPLATE, OutboundMessage, SendLedger, SendResult, recipient

log = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"
THROTTLED = "throttled"
TEMPLATE_INVALID = "template_invalid"
INVALID_NUMBER = "invalid_number"
UNREACHABLE = "unreachable"
FACTS_MISSING = "template_facts_missing"
REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    """What one request came to: the result, and whether trying again may help."""

    result: SendResult
    retry: bool = False


def refused(error: str, retry: bool = False) -> Answer:
    """A refused send."""
    return Answer(SendResult(ok=False, error=error), retry)


@dataclass(frozen=True)
class ErrorCodes:
    """A provider's error codes that mean one of the shared errors; any other code is ``<provider>_<code>``."""

    provider: str
    rate_limited: frozenset[str]
    template_invalid: frozenset[str]
    invalid_number: frozenset[str]
    opted_out: frozenset[str] = frozenset()

    def answer(self, code: str) -> Answer:
        """The refusal ``code`` stands for (never retried: a second try meets the same refusal)."""
        shared = (
            (RATE_LIMITED, self.rate_limited),
            (TEMPLATE_INVALID, self.template_invalid),
            (INVALID_NUMBER, self.invalid_number),
            (OPTED_OUT, self.opted_out),
        )
        error = next((error for error, codes in shared if code in codes), f"{self.provider}_{code or 'unknown'}")
        return refused(error)


def _last_answer(state: RetryCallState) -> Answer:
    assert state.outcome is not None  # tenacity calls this after an attempt, so there is one
    answer: Answer = state.outcome.result()
    return answer


class MainlandSender:
    """A :class:`bot.notifications.outbox.Sender` for a template-only SMS provider; subclasses make the request."""

    provider = ""
    templated = True
    """Tells the notifier to pass each notice's facts (``OutboundMessage.facts``): the variables come from them."""

    def __init__(
        self,
        config: SmsConfig,
        *,
        ledger: SendLedger,
        opt_outs: PhoneOptOuts,
        limiter: PhoneRateLimit,
        tries: int = 3,
        backoff: Callable[[int], float] = default_backoff,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._opt_outs = opt_outs
        self._limiter = limiter
        self._tries = max(1, tries)
        self._backoff = backoff
        self._sleep = sleep

    def send(self, message: OutboundMessage) -> SendResult:
        """Send ``message`` as its kind's template, once per idempotency key; reminders not to an opted-out phone;
        nothing for an optional kind whose template is not filed (``no_template``)."""
        kind = template_kind(message)
        if kind in OPTIONAL_TEMPLATE_KINDS and kind not in self._config.templates:
            log.warning("sms not sent: no template for %s filed", kind, extra={"provider": self.provider, "kind": kind})
            return SendResult(ok=False, error=NO_TEMPLATE)
        to = recipient("sms", message.to)
        if message.kind in OPTIONAL_KINDS and self._opt_outs.is_opted_out(to):
            return SendResult(ok=False, error=OPTED_OUT)
        return self._ledger.once(message.idempotency_key, lambda: self._send_now(to, message))

    def _send_now(self, to: str, message: OutboundMessage) -> SendResult:
        try:
            rendered = render(message, self._config.templates, self.provider, self._config.templates_en)
        except (TemplateFactsError, KeyError) as missing:
            log.error("sms not sent: %s", missing, extra={"provider": self.provider, "kind": str(message.kind)})
            return SendResult(ok=False, error=FACTS_MISSING)
        if self._limiter.take(to, self.provider) is not None:
            return SendResult(ok=False, error=RATE_LIMITED)
        retrying = Retrying(
            stop=stop_after_attempt(self._tries),
            wait=lambda state: self._backoff(state.attempt_number),
            retry=retry_if_result(lambda answer: answer.retry),
            sleep=self._sleep,
            retry_error_callback=_last_answer,  # out of tries: the last answer, not tenacity's RetryError
        )
        result: SendResult = retrying(self._attempt, to, rendered).result
        if not result.ok:
            self._log_failure(to, rendered, result)
        return result

    def _attempt(self, to: str, rendered: Rendered) -> Answer:
        answer = self._try_once(to, rendered)
        if answer.result.error == OPTED_OUT:
            self._opt_outs.set(to, True)  # the provider's own unsubscribe list: honoured for reminders here too
        return answer

    def _try_once(self, to: str, rendered: Rendered) -> Answer:  # pragma: no cover - every provider has its own
        raise NotImplementedError

    def _log_failure(self, to: str, rendered: Rendered, result: SendResult) -> None:
        level = logging.ERROR if result.error == TEMPLATE_INVALID else logging.WARNING
        log.log(
            level,
            "sms send failed: %s %s to %s: %s",
            self.provider,
            rendered.kind,
            rules.mask_phone(to),
            result.error,
            extra={"provider": self.provider, "kind": rendered.kind, "template": rendered.code, "error": result.error},
        )
