"""Outbound SMS through the real twilio SDK to a local stand-in of the Twilio REST API (tests/twilio_standin.py):
what is sent and where, retries on 429 and 5xx only, 21610 as an opt-out, reminders refused to opted-out phones,
one send per idempotency key, and the delivery log.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from adapters.sms.twilio import (
    OPTED_OUT,
    DeliveryLog,
    PhoneOptOuts,
    TwilioConfigError,
    TwilioSender,
    default_backoff,
    twilio_client,
)
from bot.config import SmsConfig
from bot.notifications.outbox import OutboundMessage, OutboxKind, SendLedger
from bot.otp import OtpService
from bot.patients import phone_hash
from bot.storage import keys
from tests.support import Services
from tests.twilio_standin import TwilioStandIn

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "standin-auth-token"
FROM = "+15005550006"
PUBLIC_URL = "https://guahao.example.org"
PHONE = "+8613900000001"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


class Sleeps(list[float]):
    """Records the backoff waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sms_config(base_url: str, **changes: str) -> SmsConfig:
    config = SmsConfig(
        provider="twilio", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM, api_base_url=base_url
    )
    return replace(config, **changes)


def make_sender(
    svc: Services, standin: TwilioStandIn, sleeps: Sleeps | None = None, public_url: str = PUBLIC_URL, **changes: str
) -> TwilioSender:
    return TwilioSender(
        sms_config(standin.base_url, **changes),
        ledger=SendLedger(svc.redis, svc.box),
        opt_outs=PhoneOptOuts(svc.patients, svc.box),
        public_url=public_url,
        backoff=lambda attempt: attempt * 0.25,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def message(
    kind: OutboxKind = OutboxKind.confirmation, to: str = "13900000001", key: str | None = None
) -> OutboundMessage:
    return OutboundMessage("sms", to, kind, "预约成功!识别码 12345678", key)


def opted_out(svc: Services, phone: str = PHONE) -> bool:
    return svc.patients.is_opted_out(phone_hash(svc.box, phone))


# --- what goes out ---------------------------------------------------------------------------------------------
def test_a_message_goes_through_the_sdk_to_the_configured_base_url(svc: Services, standin: TwilioStandIn) -> None:
    result = make_sender(svc, standin).send(message())
    assert result.ok and result.provider_id and result.provider_id.startswith("SM") and result.error is None
    [sent] = standin.messages()
    assert sent.path == MESSAGES_PATH
    assert sent.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert sent.headers["User-Agent"].startswith("twilio-python/"), "the SDK made the request"
    assert sent.form == {
        "To": PHONE,  # any accepted form of the number goes out in E.164
        "From": FROM,
        "Body": "预约成功!识别码 12345678",
        "StatusCallback": PUBLIC_URL + "/sms/twilio/status",
    }


def test_a_messaging_service_replaces_the_from_number(svc: Services, standin: TwilioStandIn) -> None:
    sender = make_sender(svc, standin, public_url="", messaging_service_sid="MG" + "1" * 32)
    assert sender.send(message()).ok
    form = standin.messages()[0].form
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form and "StatusCallback" not in form, "no public URL: no callback asked for"


def test_the_client_is_pointed_at_the_base_url(standin: TwilioStandIn) -> None:
    client = twilio_client(sms_config(standin.base_url + "/"))
    assert client.api.base_url == standin.base_url
    created = client.api.v2010.accounts(ACCOUNT_SID).messages.create(to=PHONE, from_=FROM, body="hi")
    assert created.sid.startswith("SM") and standin.messages()[0].form["Body"] == "hi"


def test_missing_credentials_or_sender_are_a_config_error(svc: Services) -> None:
    ledger, opt_outs = SendLedger(svc.redis, svc.box), PhoneOptOuts(svc.patients, svc.box)
    for bad in (
        sms_config("http://127.0.0.1:1", account_sid=""),
        sms_config("http://127.0.0.1:1", auth_token=""),
        sms_config("http://127.0.0.1:1", from_number=""),
    ):
        with pytest.raises(TwilioConfigError):
            TwilioSender(bad, ledger=ledger, opt_outs=opt_outs)


# --- retries -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_are_retried_with_backoff_then_succeed(svc: Services, standin: TwilioStandIn, status: int) -> None:
    sleeps = Sleeps()
    standin.fail_next(status, times=2)
    result = make_sender(svc, standin, sleeps).send(message())
    assert result.ok
    assert len(standin.messages()) == 3
    assert sleeps == [0.25, 0.5]


def test_retries_are_bounded_and_a_failure_can_be_sent_again_later(svc: Services, standin: TwilioStandIn) -> None:
    sleeps = Sleeps()
    sender = make_sender(svc, standin, sleeps)
    standin.fail_next(500, times=3)
    failed = sender.send(message(key="confirmation:12345678"))
    assert not failed.ok and failed.error == "twilio_20500"
    assert len(standin.messages()) == 3 and len(sleeps) == 2
    assert sender.send(message(key="confirmation:12345678")).ok, "the key was released for the worker's retry"
    assert len(standin.messages()) == 4


def test_other_4xx_are_not_retried(svc: Services, standin: TwilioStandIn) -> None:
    sleeps = Sleeps()
    standin.fail_next(400, code=21211)
    result = make_sender(svc, standin, sleeps).send(message())
    assert not result.ok and result.error == "twilio_21211"
    assert len(standin.messages()) == 1 and not sleeps
    assert not opted_out(svc)


def test_wrong_credentials_are_not_retried(svc: Services, standin: TwilioStandIn) -> None:
    sender = make_sender(svc, standin, auth_token="wrong")
    result = sender.send(message())
    assert not result.ok and result.error == "twilio_20003"
    assert len(standin.requests) == 1


def test_an_unreachable_api_is_retried_then_reported(svc: Services) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    sender = TwilioSender(
        sms_config(f"http://127.0.0.1:{port}"),
        ledger=SendLedger(svc.redis, svc.box),
        opt_outs=PhoneOptOuts(svc.patients, svc.box),
        sleep=sleeps,
    )
    result = sender.send(message())
    assert not result.ok and result.error == "unreachable" and len(sleeps) == 2


def test_default_backoff_grows_and_is_bounded() -> None:
    assert 0.4 <= default_backoff(1) <= 0.6
    assert 0.8 <= default_backoff(2) <= 1.2
    assert default_backoff(30) <= 8.0 * 1.2


# --- opt-out -------------------------------------------------------------------------------------------------------
def test_error_21610_opts_the_phone_out_without_retrying(svc: Services, standin: TwilioStandIn) -> None:
    sleeps = Sleeps()
    sender = make_sender(svc, standin, sleeps)
    standin.fail_next(400, code=21610)
    result = sender.send(message(OutboxKind.confirmation))
    assert not result.ok and result.error == OPTED_OUT
    assert len(standin.messages()) == 1 and not sleeps
    assert opted_out(svc)
    assert sender.send(message(OutboxKind.reminder)).error == OPTED_OUT
    assert len(standin.messages()) == 1, "the reminder was refused without asking Twilio"


def test_reminders_are_refused_to_an_opted_out_phone_other_kinds_always_go(
    svc: Services, standin: TwilioStandIn
) -> None:
    PhoneOptOuts(svc.patients, svc.box).set("8613900000001", True)
    sender = make_sender(svc, standin)
    refused = sender.send(message(OutboxKind.reminder, key="reminder:12345678:day_before"))
    assert not refused.ok and refused.error == OPTED_OUT
    assert not standin.messages()
    for kind in (OutboxKind.confirmation, OutboxKind.cancellation, OutboxKind.otp):
        assert sender.send(message(kind)).ok
    assert len(standin.messages()) == 3
    PhoneOptOuts(svc.patients, svc.box).set(PHONE, False)
    assert sender.send(message(OutboxKind.reminder, key="reminder:12345678:day_before")).ok, "back in (START)"


# --- once per idempotency key --------------------------------------------------------------------------------------
def test_the_same_idempotency_key_sends_once(svc: Services, standin: TwilioStandIn) -> None:
    sender = make_sender(svc, standin)
    first = sender.send(message(OutboxKind.reminder, key="reminder:12345678:2h"))
    again = make_sender(svc, standin).send(message(OutboxKind.reminder, key="reminder:12345678:2h"))  # another worker
    assert first.ok and again == first
    assert len(standin.messages()) == 1
    assert sender.send(message(OutboxKind.reminder, key="reminder:12345678:day_before")).ok
    assert len(standin.messages()) == 2


def test_codes_go_out_through_twilio(svc: Services, standin: TwilioStandIn) -> None:
    otp = OtpService(svc.redis, svc.box, svc.clock, svc.config.policy, make_sender(svc, standin))
    otp.send("13900000001", "verify", "zh")
    [sent] = standin.messages()
    assert sent.form["To"] == PHONE and any(ch.isdigit() for ch in sent.form["Body"])


# --- delivery log --------------------------------------------------------------------------------------------------
def test_delivery_log_keeps_the_furthest_status_for_a_week(svc: Services) -> None:
    log = DeliveryLog(svc.redis, svc.clock)
    assert log.record("SM1", "queued")
    assert log.record("SM1", "Delivered")
    assert not log.record("SM1", "sent"), "a late callback never moves a message backwards"
    assert log.get("SM1")["status"] == "delivered"
    assert log.record("SM2", "undelivered", "30003")
    assert log.get("SM2")["error_code"] == "30003"
    assert 0 < svc.redis.ttl(keys.sms_status("SM2")) <= 7 * 24 * 3600
    assert log.get("SM-unknown") == {}
