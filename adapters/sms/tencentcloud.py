"""Outbound SMS through Tencent Cloud (腾讯云短信, API 3.0 ``SendSms`` 2021-01-11), with the provider's own SDK.

``tencentcloud-sdk-python-sms`` signs every request (TC3-HMAC-SHA256) with ``secret_id``/``secret_key``;
``[sms] api_base_url`` becomes the SDK's ``HttpProfile`` endpoint and protocol (a proxy, the tests' stand-in) —
empty is ``sms.tencentcloudapi.com`` over HTTPS. Each message goes as its kind's template (``TemplateId``) with
its variables in the template's order (``TemplateParamSet``), under ``sign_name`` and the application
``sdk_app_id``; the ``SerialNo`` Tencent Cloud answers is what its status callback names (``sid``).

Tencent Cloud's answers: per number in ``SendStatusSet`` (``Ok``; ``LimitExceeded.PhoneNumberThirtySecondLimit``,
``…OneHourLimit``, ``…DailyLimit``, ``LimitExceeded.DeliveryFrequencyLimit`` → ``rate_limited``;
``InvalidParameterValue.IncorrectPhoneNumber`` → ``invalid_number``; ``FailedOperation.PhoneNumberInBlacklist``, a
phone that replied TD/退订 to Tencent → ``opted_out``), or for the whole request (an SDK exception:
``FailedOperation.TemplateIncorrectOrUnapproved``, ``FailedOperation.SignatureIncorrectOrUnapproved``,
``InvalidParameterValue.TemplateParameter…`` → ``template_invalid``; ``RequestLimitExceeded``, ``InternalError…``
and no connection → tried again with backoff).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

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

ENDPOINT = "sms.tencentcloudapi.com"
CODES = ErrorCodes(
    "tencentcloud",
    rate_limited=frozenset(
        {
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            "LimitExceeded.PhoneNumberOneHourLimit",
            "LimitExceeded.PhoneNumberDailyLimit",
            "LimitExceeded.DeliveryFrequencyLimit",
            "LimitExceeded.PhoneNumberSameContentDailyLimit",
        }
    ),
    template_invalid=frozenset(
        {
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "FailedOperation.MissingTemplateToModify",
            "InvalidParameterValue.TemplateParameterFormatError",
            "InvalidParameterValue.TemplateParameterLengthLimit",
            "InvalidParameterValue.ContentLengthLimit",
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        }
    ),
    invalid_number=frozenset({"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.InvalidPhoneNumber"}),
    opted_out=frozenset({"FailedOperation.PhoneNumberInBlacklist"}),
)


def tencent_client(config: SmsConfig) -> sms_client.SmsClient:
    """The SDK's client for ``config``: ``api_base_url`` as its endpoint and protocol, else Tencent Cloud's own."""
    parts = urlsplit(config.api_base_url) if config.api_base_url else None
    http = HttpProfile(
        protocol=parts.scheme if parts else "https",
        endpoint=parts.netloc if parts else ENDPOINT,
        reqTimeout=int(REQUEST_TIMEOUT_S),
    )
    profile = ClientProfile(httpProfile=http)
    return sms_client.SmsClient(credential.Credential(config.secret_id, config.secret_key), config.region, profile)


class TencentCloudSender(MainlandSender):
    """:class:`MainlandSender` over Tencent Cloud's ``SendSms``."""

    provider = "tencentcloud"

    def __init__(self, config: SmsConfig, *, client: sms_client.SmsClient | None = None, **shared: Any) -> None:
        super().__init__(config, **shared)
        self._client = client if client is not None else tencent_client(config)

    def _try_once(self, to: str, rendered: Rendered) -> Answer:
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [to]
        request.SmsSdkAppId = self._config.sdk_app_id
        request.SignName = self._config.sign_name
        request.TemplateId = rendered.code
        request.TemplateParamSet = list(rendered.variables.values())
        try:
            response = self._client.SendSms(request)
        except TencentCloudSDKException as failed:  # SendSms wraps whatever else goes wrong in it too
            return _request_answer(str(failed.get_code() or ""), str(failed.get_message() or ""))

        statuses = response.SendStatusSet or []
        if not statuses:
            return refused(UNREACHABLE)
        status = statuses[0]
        if status.Code == "Ok":
            return Answer(SendResult(ok=True, provider_id=str(status.SerialNo)))
        return CODES.answer(str(status.Code or ""))


def _request_answer(code: str, message: str) -> Answer:
    if code == "ClientNetworkError" and "timed out" in message.lower():
        return refused(UNREACHABLE)  # it may have been sent: not again now
    if code in ("ClientNetworkError", "ServerNetworkError"):
        return refused(UNREACHABLE, retry=True)
    if code == "RequestLimitExceeded" or code.startswith("InternalError"):
        return refused(THROTTLED if code == "RequestLimitExceeded" else UNREACHABLE, retry=True)
    return CODES.answer(code)
