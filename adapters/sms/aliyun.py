"""Outbound SMS through Aliyun (阿里云短信服务, Dysmsapi 2017-05-25 ``SendSms``), with the provider's own SDK.

``alibabacloud-dysmsapi20170525`` over ``alibabacloud_tea_openapi``'s client signs every request (ACS3-HMAC-SHA256,
the V3 signature) with ``access_key_id``/``access_key_secret``; ``[sms] api_base_url`` (``http://host:port`` or
``https://host``) becomes the SDK's endpoint and protocol, so a proxy or the tests' stand-in answers — empty is
``dysmsapi.aliyuncs.com`` over HTTPS. Each message goes as its kind's template (``TemplateCode``) with its variables
as JSON (``TemplateParam``) under ``sign_name``; the ``BizId`` Aliyun answers is what its delivery report names.

Aliyun's answers (``Code``): ``OK``; ``isv.BUSINESS_LIMIT_CONTROL`` / ``isv.DAY_LIMIT_CONTROL`` (the per-phone
quota) → ``rate_limited``; ``isv.SMS_TEMPLATE_ILLEGAL``, ``isv.TEMPLATE_MISSING_PARAMETERS``,
``isv.TEMPLATE_PARAMS_ILLEGAL``, ``isv.PARAM_LENGTH_LIMIT``, ``isv.SMS_SIGNATURE_ILLEGAL`` → ``template_invalid``;
``isv.MOBILE_NUMBER_ILLEGAL`` → ``invalid_number``; ``Throttling*`` (the API's request rate), 5xx and no connection →
tried again with backoff.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from darabonba.runtime import RuntimeOptions

from adapters.sms.mainland import (
    REQUEST_TIMEOUT_S,
    THROTTLED,
    UNREACHABLE,
    Answer,
    ErrorCodes,
    MainlandSender,
    refused,
)
from adapters.sms.templates import Rendered
from bot.config import SmsConfig
from bot.notifications.outbox import SendResult

ENDPOINT = "dysmsapi.aliyuncs.com"
CODES = ErrorCodes(
    "aliyun",
    rate_limited=frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"}),
    template_invalid=frozenset(
        {
            "isv.SMS_TEMPLATE_ILLEGAL",
            "isv.TEMPLATE_MISSING_PARAMETERS",
            "isv.TEMPLATE_PARAMS_ILLEGAL",
            "isv.PARAM_LENGTH_LIMIT",
            "isv.SMS_SIGNATURE_ILLEGAL",
        }
    ),
    invalid_number=frozenset({"isv.MOBILE_NUMBER_ILLEGAL"}),
)


def aliyun_client(config: SmsConfig) -> Client:
    """The SDK's client for ``config``: ``api_base_url`` as its endpoint and protocol, else Aliyun's own."""
    parts = urlsplit(config.api_base_url) if config.api_base_url else None
    return Client(
        openapi_models.Config(
            access_key_id=config.access_key_id,
            access_key_secret=config.access_key_secret,
            endpoint=parts.netloc if parts else ENDPOINT,
            protocol=parts.scheme if parts else "https",
        )
    )


def national(phone: str) -> str:
    """A mainland number as Aliyun takes it (11 digits); another one in E.164 without ``+`` (its country code first)."""
    return phone[3:] if phone.startswith("+86") else phone.lstrip("+")


class AliyunSender(MainlandSender):
    """:class:`MainlandSender` over Aliyun's ``SendSms``."""

    provider = "aliyun"

    def __init__(self, config: SmsConfig, *, client: Client | None = None, **shared: Any) -> None:
        super().__init__(config, **shared)
        self._client = client if client is not None else aliyun_client(config)
        self._runtime = RuntimeOptions(
            autoretry=False,  # tenacity retries, with our backoff and only what may pass
            connect_timeout=int(REQUEST_TIMEOUT_S * 1000),
            read_timeout=int(REQUEST_TIMEOUT_S * 1000),
        )

    def _try_once(self, to: str, rendered: Rendered) -> Answer:
        request = sms_models.SendSmsRequest(
            phone_numbers=national(to),
            sign_name=self._config.sign_name,
            template_code=rendered.code,
            template_param=json.dumps(rendered.variables, ensure_ascii=False),
        )
        try:
            response = self._client.send_sms_with_options(request, self._runtime)
        except Exception as failed:  # the SDK raises its own types for HTTP errors, and requests' for the network
            return _exception_answer(failed)
        body = response.body
        code = str(body.code or "")
        if code == "OK":
            return Answer(SendResult(ok=True, provider_id=str(body.biz_id)))
        return _code_answer(code)


def _code_answer(code: str) -> Answer:
    if code.startswith("Throttling"):
        return refused(THROTTLED, retry=True)
    return CODES.answer(code)


def _exception_answer(failed: Exception) -> Answer:
    code = str(getattr(failed, "code", "") or "")
    data = getattr(failed, "data", None)
    status = getattr(failed, "status_code", None) or (data.get("statusCode") if isinstance(data, dict) else None)
    if code:
        answer = _code_answer(code)
        if isinstance(status, int) and status >= 500:
            return refused(answer.result.error or UNREACHABLE, retry=True)
        return answer
    timed_out = "timed out" in str(failed).lower() or "timeout" in type(failed).__name__.lower()
    return refused(UNREACHABLE, retry=not timed_out)  # a timeout may have been sent: not again now
