"""Mainland SMS (SPEC §9): Aliyun and Tencent Cloud through their own SDKs against local stand-ins that verify the
SDKs' signatures (tests/mainland_standins.py) — codes, confirmations and reminders as their kinds' templates with
variables from the structured notice; the providers' errors each handled as for Twilio; the per-phone limits; the
inbound callbacks (``取消 <serial>`` + ``Y``, each delivered twice) and delivery reports; and a scan of everything
the stand-ins received: no full ID number or phone in any variable, every variable within its provider's limit.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

import rules
from adapters.sms.aliyun import AliyunSender
from adapters.sms.mainland import MainlandSender
from adapters.sms.ratelimit import PhoneRateLimit
from adapters.sms.templates import CODE_DIGITS, VARIABLE_LIMITS, template
from adapters.sms.tencentcloud import TencentCloudSender
from adapters.sms.twilio import OPTED_OUT, DeliveryLog, PhoneOptOuts
from app.web import create_app
from app.worker import run_worker
from bot.config import OPTIONAL_TEMPLATE_KINDS, TEMPLATE_KINDS, build_config, load_config
from bot.errors import ConfigError
from bot.jobs import run_periodic
from bot.notifications.outbox import OutboundMessage, OutboxKind, SendLedger
from bot.patients import phone_hash
from bot.records import Appointment
from bot.storage import keys
from tests.mainland_standins import GARBAGE, AliyunStandIn, Sent, TencentStandIn
from tests.pii_scan import assert_no_pii, assert_no_pii_in_bytes
from tests.support import (
    CONFIG_RAW,
    NOW,
    Services,
    id_number,
    make_services,
    patient_name,
    phone_number,
    schedule_csv,
    slot_of,
)
from tests.support import clock as clock_of
from tests.wechat_standin import APP_ID, APP_SECRET, running_standin

KEY_ID, SECRET = "LTAI-standin-key", "standin-secret-0123456789"
SDK_APP_ID = "1400123456"
TOKEN = "callback-token-0123456789abcdef"
TOMORROW = NOW.date() + timedelta(days=1)
CODES = {
    "aliyun": {kind: f"SMS_{100000 + i}" for i, kind in enumerate(TEMPLATE_KINDS)},
    "tencentcloud": {kind: str(2000000 + i) for i, kind in enumerate(TEMPLATE_KINDS)},
}
_ids = itertools.count(1)


def mainland_raw(provider: str, base_url: str, **sms: Any) -> dict[str, Any]:
    raw = copy.deepcopy(CONFIG_RAW)
    credentials = (
        {"access_key_id": KEY_ID, "access_key_secret": SECRET}
        if provider == "aliyun"
        else {"secret_id": KEY_ID, "secret_key": SECRET, "sdk_app_id": SDK_APP_ID}
    )
    raw["sms"] = {
        "provider": provider,
        **credentials,
        "sign_name": "第一医院",
        "api_base_url": base_url,
        "templates": dict(CODES[provider]),
        "inbound_token": TOKEN,
        "per_phone_per_minute": 10,
        **sms,
    }
    return raw


@dataclass
class Mainland:
    """One provider's stand-in and the services wired to it, as the app wires them."""

    provider: str
    standin: AliyunStandIn | TencentStandIn
    svc: Services

    def variables(self, sent: Sent) -> dict[str, str]:
        """What was sent, as name -> value whatever the provider (Tencent's are positional)."""
        if isinstance(sent.variables, dict):
            return sent.variables
        kind = next(k for k, code in CODES[self.provider].items() if code == sent.template)
        return dict(zip(template(kind).variables, sent.variables, strict=True))

    def kinds(self) -> list[str]:
        by_code = {code: kind for kind, code in CODES[self.provider].items()}
        return [by_code[sent.template] for sent in self.standin.sent]

    def sender(self, **changes: Any) -> MainlandSender:
        """A sender of this provider with recorded (not slept) backoff; ``changes`` to its config."""
        config = replace(self.svc.config.sms, **changes)
        cls = AliyunSender if self.provider == "aliyun" else TencentCloudSender
        return cls(
            config,
            ledger=SendLedger(self.svc.redis, self.svc.box),
            opt_outs=PhoneOptOuts(self.svc.patients, self.svc.box),
            limiter=PhoneRateLimit(self.svc.redis, self.svc.box, self.svc.clock, config),
            backoff=lambda attempt: 0.0,
            sleep=SLEEPS.append,
        )


SLEEPS: list[float] = []


@pytest.fixture(params=["aliyun", "tencentcloud"])
def mainland(request: pytest.FixtureRequest, redis_db: redis.Redis) -> Iterator[Mainland]:
    provider = request.param
    standin = (
        AliyunStandIn(KEY_ID, SECRET) if provider == "aliyun" else TencentStandIn(KEY_ID, SECRET, sdk_app_id=SDK_APP_ID)
    )
    with standin:
        svc = make_services(redis_db, build_config(mainland_raw(provider, standin.base_url)))
        svc.schedule.import_csv(schedule_csv(TOMORROW))
        SLEEPS.clear()
        yield Mainland(provider, standin, svc)
        scan(provider, standin.sent)  # everything this stand-in received


def scan(provider: str, sent: list[Sent]) -> None:
    """No full ID number or phone of any test patient in any variable; every variable within the limit."""
    for item in sent:
        values = list(item.variables.values()) if isinstance(item.variables, dict) else item.variables
        for value in values:
            assert len(value) <= VARIABLE_LIMITS[provider], (provider, item.template, value)
        blob = json.dumps(values, ensure_ascii=False).encode()
        secrets = [s for n in range(1, 10) for s in (id_number(n), phone_number(n))]
        assert_no_pii_in_bytes(blob, secrets, f"{provider} {item.template} variables")


def book(svc: Services, n: int, department: str = "nk") -> Appointment:
    acct, patient = svc.patient(n)
    return svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", department, TOMORROW))


def national(n: int) -> str:
    return phone_number(n)


def e164(n: int) -> str:
    return "+86" + phone_number(n)


# --- what goes out -------------------------------------------------------------------------------------------
def test_an_otp_goes_out_as_the_otp_template_with_the_code(mainland: Mainland) -> None:
    sent = mainland.svc.otp.send(phone_number(1), "verify")
    assert sent.result.ok and sent.result.provider_id
    [request] = mainland.standin.sent
    assert request.template == CODES[mainland.provider]["otp"]
    assert request.sign_name == "第一医院"
    assert request.phone == (national(1) if mainland.provider == "aliyun" else e164(1))
    variables = mainland.variables(request)
    assert set(variables) == {"code", "minutes"} and variables["minutes"] == "5"
    low, high = CODE_DIGITS[mainland.provider]
    assert variables["code"].isdigit() and low <= len(variables["code"]) <= high
    if mainland.provider == "tencentcloud":
        assert request.variables == [variables["code"], "5"], "Tencent's variables are positional: {1}, {2}"


def test_a_confirmation_and_a_reminder_carry_the_appointment_as_variables(mainland: Mainland) -> None:
    svc = mainland.svc
    appointment = book(svc, 2)
    body = svc.notifier.compose(appointment, "confirmation")
    # no address remembered: the notice falls back to an SMS to the patient's verified phone (SPEC §5)
    assert svc.notifier.deliver(appointment, OutboxKind.confirmation, body, f"confirm-{appointment.serial}").ok
    reminder = svc.notifier.compose(appointment, "day_before")
    assert svc.notifier.deliver(appointment, OutboxKind.reminder, reminder, f"day-{appointment.serial}").ok
    confirmation, reminded = mainland.standin.sent
    assert [confirmation.template, reminded.template] == [
        CODES[mainland.provider][k] for k in ("confirmation", "reminder")
    ]
    shared = {
        "patient": rules.mask_name(patient_name(2)),
        "date": f"{TOMORROW.month}月{TOMORROW.day}日",
        "time": "08:00-12:00",
        "hospital": "第一医院",
        "department": "内科",
        "queue": "1",
        "serial": appointment.serial,
    }
    assert mainland.variables(confirmation) == {**shared, "deadline": f"{NOW.month}月{NOW.day}日15:00"}
    assert mainland.variables(reminded) == {**shared, "checkin": "08:00"}
    sent_words = json.dumps([mainland.variables(s) for s in mainland.standin.sent], ensure_ascii=False)
    assert "【" not in sent_words and "请携带身份证" not in sent_words, "the structured notice went, not its free text"


def test_the_worker_sends_each_reminder_through_the_provider_at_its_moment(mainland: Mainland) -> None:
    """The real path: booked by SMS, the reminders due on the clock, claimed and sent by RQ jobs (run_worker)."""
    svc = mainland.svc
    acct, patient = svc.patient(8, "sms", e164(8))
    appointment = svc.booking.book(patient.pid, acct, "sms", slot_of("h1", "nk", TOMORROW))
    svc.reminders.on_booked(appointment, e164(8))
    run_periodic(svc)
    run_worker(svc, burst=True)
    assert mainland.kinds() == [], "booked by SMS: the reply was the confirmation; no reminder due yet"
    for moment in (
        NOW.replace(hour=13, minute=1),
        NOW.replace(hour=18, minute=1),
        NOW + timedelta(hours=22, minutes=1),
    ):
        clock_of(svc).set(moment)
        run_periodic(svc)
        run_worker(svc, burst=True)
    assert mainland.kinds() == ["reminder", "reminder", "reminder"], "window end, the day before, before the start"
    assert {mainland.variables(sent)["serial"] for sent in mainland.standin.sent} == {appointment.serial}


def test_the_words_of_every_template_are_filed_for_every_kind() -> None:
    for kind in TEMPLATE_KINDS:
        chosen = template(kind)
        assert chosen.variables, kind
        assert "【" not in chosen.words and "http" not in chosen.words, "no brackets of a signature, no link"
        assert "{1}" in chosen.tencent_words and "${" not in chosen.tencent_words


def test_a_forged_or_wrongly_keyed_request_is_refused_by_the_stand_in(mainland: Mainland) -> None:
    secret_key = "access_key_secret" if mainland.provider == "aliyun" else "secret_key"
    result = mainland.sender(**{secret_key: "not-the-secret-0000"}).send(
        OutboundMessage("sms", phone_number(1), OutboxKind.otp, "x", facts={"code": "123456", "minutes": "5"})
    )
    assert not result.ok and "Signature" in (result.error or "")
    assert mainland.standin.refused_signatures == 1 and mainland.standin.sent == []


def otp(n: int = 1, key: str | None = None) -> OutboundMessage:
    return OutboundMessage("sms", phone_number(n), OutboxKind.otp, "码", key, facts={"code": "246810", "minutes": "5"})


# --- English conversations ------------------------------------------------------------------------------------
EN_CODES = {
    "aliyun": {kind: f"SMS_{900000 + i}" for i, kind in enumerate(TEMPLATE_KINDS)},
    "tencentcloud": {kind: str(9000000 + i) for i, kind in enumerate(TEMPLATE_KINDS)},
}


def english(mainland: Mainland, kinds: tuple[str, ...] = TEMPLATE_KINDS) -> MainlandSender:
    """Services wired again, as the app would, with ``[sms.templates_en]`` for ``kinds``; their sender."""
    codes = {kind: code for kind, code in EN_CODES[mainland.provider].items() if kind in kinds}
    raw = mainland_raw(mainland.provider, mainland.standin.base_url, templates_en=codes)
    mainland.svc = make_services(mainland.svc.redis, build_config(raw))
    return mainland.sender()


def test_an_english_conversation_gets_the_english_template_with_english_words(mainland: Mainland) -> None:
    english(mainland)
    svc = mainland.svc
    acct, patient = svc.patient(7)
    svc.patients.set_account_language(acct, "en")
    appointment = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    body = svc.notifier.compose(appointment, "confirmation")
    assert svc.notifier.deliver(appointment, OutboxKind.confirmation, body, f"c-{appointment.serial}").ok
    [sent] = mainland.standin.sent
    assert sent.template == EN_CODES[mainland.provider]["confirmation"]
    values = dict(zip(template("confirmation", "en").variables, _values_of(sent), strict=True))
    assert values["date"] == f"{TOMORROW.month}/{TOMORROW.day}" and values["department"] == "Neike"
    assert values["patient"].isascii() and values["deadline"] == f"{NOW.month}/{NOW.day} 15:00"


def _values_of(sent: Sent) -> list[str]:
    return list(sent.variables.values()) if isinstance(sent.variables, dict) else sent.variables


def test_a_kind_without_an_english_template_goes_in_chinese(mainland: Mainland) -> None:
    sender = english(mainland, kinds=("confirmation",))
    message = replace(otp(), facts={"code": "246810", "minutes": "5", "lang": "en"})
    assert sender.send(message).ok
    assert mainland.standin.sent[0].template == CODES[mainland.provider]["otp"]


def test_an_english_otp_and_an_english_reply(mainland: Mainland) -> None:
    english(mainland)
    mainland.svc.otp.send(phone_number(1), "verify", "en")
    assert mainland.standin.sent[0].template == EN_CODES[mainland.provider]["otp"]
    web = create_app(mainland.svc, expect_worker=False).test_client()
    assert post_up(web, mainland, "English", 7001).status_code == 200
    reply = mainland.standin.sent[1]
    assert reply.template == EN_CODES[mainland.provider]["reply_short"]
    assert _values_of(reply)[0].startswith("Switched"), "the answer to English is in English"


# --- the providers' errors -----------------------------------------------------------------------------------
ERRORS = {
    "rate": {
        "aliyun": ("isv.BUSINESS_LIMIT_CONTROL", 200, False),
        "tencentcloud": ("LimitExceeded.PhoneNumberOneHourLimit", 200, True),
    },
    "template": {
        "aliyun": ("isv.SMS_TEMPLATE_ILLEGAL", 200, False),
        "tencentcloud": ("FailedOperation.TemplateIncorrectOrUnapproved", 200, False),
    },
    "number": {
        "aliyun": ("isv.MOBILE_NUMBER_ILLEGAL", 200, False),
        "tencentcloud": ("InvalidParameterValue.IncorrectPhoneNumber", 200, True),
    },
    "api_rate": {"aliyun": ("Throttling.User", 400, False), "tencentcloud": ("RequestLimitExceeded", 200, False)},
    "server": {"aliyun": ("ServiceUnavailable", 503, False), "tencentcloud": ("InternalError.Timeout", 200, False)},
}


def fail_next(mainland: Mainland, error: str, times: int = 1) -> None:
    code, status, per_number = ERRORS[error][mainland.provider]
    mainland.standin.fail_next(code, status=status, per_number=per_number, times=times)


def test_a_throttled_phone_is_given_up_not_hammered(mainland: Mainland, caplog: pytest.LogCaptureFixture) -> None:
    fail_next(mainland, "rate")
    sender = mainland.sender()
    result = sender.send(otp(key="otp-1"))
    assert (result.ok, result.error) == (False, "rate_limited")
    assert mainland.standin.requests == 1 and SLEEPS == [], "a per-phone quota: a retry in seconds meets it again"
    assert sender.send(otp(key="otp-1")).ok, "a failed send releases its key: a later retry sends"


def test_an_invalid_template_is_given_up_and_logged_as_an_error(
    mainland: Mainland, caplog: pytest.LogCaptureFixture
) -> None:
    fail_next(mainland, "template")
    with caplog.at_level(logging.ERROR):
        result = mainland.sender().send(otp())
    assert (result.ok, result.error) == (False, "template_invalid") and mainland.standin.requests == 1
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "otp" in line.getMessage() and "template_invalid" in line.getMessage()
    assert phone_number(1) not in line.getMessage(), "the phone is masked in the log"


def test_an_unreachable_number_is_given_up(mainland: Mainland) -> None:
    fail_next(mainland, "number")
    result = mainland.sender().send(otp())
    assert (result.ok, result.error) == (False, "invalid_number") and mainland.standin.requests == 1


@pytest.mark.parametrize("error", ["api_rate", "server"])
def test_api_throttling_and_server_errors_are_retried_with_backoff(mainland: Mainland, error: str) -> None:
    fail_next(mainland, error)
    result = mainland.sender().send(otp())
    assert result.ok and mainland.standin.requests == 2 and len(SLEEPS) == 1
    assert len(mainland.standin.sent) == 1


def test_a_provider_that_keeps_failing_is_tried_a_bounded_number_of_times(mainland: Mainland) -> None:
    fail_next(mainland, "server", times=5)
    result = mainland.sender().send(otp())
    assert not result.ok and mainland.standin.requests == 3 and len(SLEEPS) == 2


def test_an_answer_that_is_not_the_providers_is_a_failed_send_not_a_crash(mainland: Mainland) -> None:
    mainland.standin.fail_next(GARBAGE, status=502, times=3)
    result = mainland.sender().send(otp())
    assert not result.ok and result.error and mainland.standin.sent == []


def test_no_connection_is_retried_then_reported_unreachable(mainland: Mainland) -> None:
    result = mainland.sender(api_base_url="http://127.0.0.1:1").send(otp())
    assert (result.ok, result.error) == (False, "unreachable") and len(SLEEPS) == 2


def test_a_phone_on_the_providers_opt_out_list_is_opted_out_of_reminders(redis_db: redis.Redis) -> None:
    with TencentStandIn(KEY_ID, SECRET, sdk_app_id=SDK_APP_ID) as standin:
        svc = make_services(redis_db, build_config(mainland_raw("tencentcloud", standin.base_url)))
        mainland = Mainland("tencentcloud", standin, svc)
        standin.fail_next("FailedOperation.PhoneNumberInBlacklist", per_number=True)
        assert mainland.sender().send(otp()).error == OPTED_OUT
        assert svc.patients.is_opted_out(phone_hash(svc.box, e164(1)))
        facts = {"patient": "张*", "date": "2026-11-24", "start": "08:00", "hospital": "h", "department": "d"}
        reminder = OutboundMessage(
            "sms",
            e164(1),
            OutboxKind.reminder,
            "r",
            facts=facts | {"queue": "1", "checkin": "08:00", "serial": "12345678"},
        )
        assert mainland.sender().send(reminder).error == OPTED_OUT and standin.requests == 1, "not even asked"
        scan("tencentcloud", standin.sent)


def test_the_per_phone_limit_is_kept_before_asking_the_provider(
    mainland: Mainland, caplog: pytest.LogCaptureFixture
) -> None:
    sender = mainland.sender(per_phone_per_minute=1, per_phone_per_hour=5)
    assert sender.send(otp()).ok
    with caplog.at_level(logging.WARNING):
        refused = sender.send(otp())
    assert (refused.ok, refused.error) == (False, "rate_limited") and mainland.standin.requests == 1
    [line] = [r.getMessage() for r in caplog.records if "limit" in r.getMessage()]
    assert "1 per minute" in line and mainland.provider in line and phone_number(1) not in line
    assert sender.send(otp(2)).ok, "another phone has its own count"
    clock_of(mainland.svc).advance(timedelta(seconds=61))
    for _ in range(4):
        assert sender.send(otp()).ok
        clock_of(mainland.svc).advance(timedelta(seconds=61))
    assert sender.send(otp()).error == "rate_limited", "5 in the hour"


def test_the_day_is_beijing_s_calendar_day(mainland: Mainland) -> None:
    """Counted per 自然日 of Beijing time: 23:59 and 00:01 are two days, 08:00 and 23:00 one."""
    sender = mainland.sender(per_phone_per_minute=0, per_phone_per_hour=0, per_phone_per_day=2)
    clock = clock_of(mainland.svc)
    clock.set(NOW.replace(hour=23, minute=59))
    assert sender.send(otp()).ok and sender.send(otp()).ok
    assert sender.send(otp()).error == "rate_limited"
    clock.advance(timedelta(minutes=2))
    assert sender.send(otp()).ok, "a new day in Beijing (still the same UTC day)"


def test_a_notice_without_the_facts_of_its_template_is_not_sent(mainland: Mainland) -> None:
    result = mainland.sender().send(OutboundMessage("sms", phone_number(1), OutboxKind.cancellation, "free text only"))
    assert (result.ok, result.error) == (False, "template_facts_missing") and mainland.standin.requests == 0


def test_a_long_value_is_cut_within_the_limit_and_personal_data_masked(mainland: Mainland) -> None:
    facts = {
        "patient": "欧阳**",
        "date": "2026-11-24",
        "start": "08:00",
        "end": "12:00",
        "hospital": "首都医科大学附属北京天坛医院国家神经系统疾病临床医学研究中心神经病学中心",
        "department": f"神经内科 {phone_number(3)}",
        "queue": "12",
        "serial": "12345678",
        "deadline": "2026-11-23T15:00:00+08:00",
    }
    message = OutboundMessage("sms", phone_number(3), OutboxKind.confirmation, "x", facts=facts)
    assert mainland.sender().send(message).ok
    variables = mainland.variables(mainland.standin.sent[0])
    limit = VARIABLE_LIMITS[mainland.provider]
    assert variables["hospital"].endswith("…") and len(variables["hospital"]) == limit
    assert phone_number(3) not in variables["department"]


def test_a_wechat_push_that_cannot_reach_falls_back_to_the_sms_template(redis_db: redis.Redis) -> None:
    """SPEC §5: WeChat unreachable (45015, out of the 48 h window) → SMS, here the confirmation template."""
    with running_standin() as wechat, AliyunStandIn(KEY_ID, SECRET) as aliyun:
        raw = mainland_raw("aliyun", aliyun.base_url)
        raw["wechat"] = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": "wechat-token"}
        raw["wechat"] |= {"api_base_url": wechat.base_url, "reminder_template_id": "TEMPLATE-1"}
        svc = make_services(redis_db, build_config(raw))
        svc.schedule.import_csv(schedule_csv(TOMORROW))
        appointment = book(svc, 6)
        svc.notifier.remember_address(appointment, "openid-6", "wechat")
        wechat.fail_next(45015)
        body = svc.notifier.compose(appointment, "confirmation")
        delivery = svc.notifier.deliver(appointment, OutboxKind.confirmation, body, f"c-{appointment.serial}")
        assert (delivery.ok, delivery.channel) == (True, "sms")
        [sent] = aliyun.sent
        assert sent.template == CODES["aliyun"]["confirmation"] and sent.phone == national(6)
        assert isinstance(sent.variables, dict) and sent.variables["serial"] == appointment.serial
        scan("aliyun", aliyun.sent)


def test_the_limit_holds_under_concurrent_senders(mainland: Mainland) -> None:
    """20 threads send to one phone at once with 3 a minute allowed: exactly 3 reach the provider."""
    sender = mainland.sender(per_phone_per_minute=3)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: sender.send(otp()), range(20)))
    assert sum(r.ok for r in results) == 3 and len(mainland.standin.sent) == 3
    assert {r.error for r in results if not r.ok} == {"rate_limited"}


def test_a_lottery_outcome_and_a_refund_are_written_in_words(mainland: Mainland) -> None:
    cancelled = {"patient": "张*", "date": "2026-11-24", "department": "内科", "serial": "12345678"}
    sender = mainland.sender()
    message = OutboundMessage("sms", phone_number(1), OutboxKind.cancellation, "x", facts=cancelled)
    assert sender.send(replace(message, facts=cancelled | {"refund_cents": "1250"})).ok
    assert mainland.variables(mainland.standin.sent[0])["refund"] == "12.50元"
    lottery = OutboxKind.__members__.get("lottery")  # the kind arrives with the release rush (SPEC §8)
    if lottery is not None:
        facts = {"patient": "张*", "date": "2026-11-24", "department": "内科", "result": "not_drawn"}
        assert sender.send(OutboundMessage("sms", phone_number(1), lottery, "x", facts=facts)).ok
        assert mainland.variables(mainland.standin.sent[1])["result"].startswith("未约到")


def test_a_waiter_skipped_at_an_offer_is_told_by_its_template(mainland: Mainland) -> None:
    svc = mainland.svc
    morning = slot_of("h1", "nk", TOMORROW)
    svc.redis.hset(keys.slot(morning), "capacity", 1)
    first = book(svc, 1)
    acct, patient = svc.patient(5, "sms", e164(5))
    svc.waitlist.join(patient.pid, acct, "sms", e164(5), morning)
    svc.booking.book(patient.pid, acct, "sms", slot_of("h1", "nk", TOMORROW, afternoon=True))  # the same day
    svc.booking.cancel(first.serial, "patient:wechat")
    run_periodic(svc)
    run_worker(svc, burst=True)
    assert "waitlist_skipped" in mainland.kinds()
    [told] = [s for s in mainland.standin.sent if s.template == CODES[mainland.provider]["waitlist_skipped"]]
    assert mainland.variables(told) == {
        "patient": "张*",
        "date": f"{TOMORROW.month}月{TOMORROW.day}日",
        "time": "08:00-12:00",
        "department": "内科",
    }


@pytest.mark.parametrize("provider", ["aliyun", "tencentcloud"])
def test_a_later_kind_without_its_template_is_logged_and_given_up_not_retried(
    provider: str, redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgraded hospital has not filed ``waitlist_skipped`` yet: the SMS-only waiter is not told, and the notice
    is recorded as undeliverable (not queued again); the log line says which kind, never whom."""
    standin = (
        AliyunStandIn(KEY_ID, SECRET) if provider == "aliyun" else TencentStandIn(KEY_ID, SECRET, sdk_app_id=SDK_APP_ID)
    )
    with standin:
        filed = {kind: code for kind, code in CODES[provider].items() if kind not in OPTIONAL_TEMPLATE_KINDS}
        svc = make_services(redis_db, build_config(mainland_raw(provider, standin.base_url, templates=filed)))
        svc.schedule.import_csv(schedule_csv(TOMORROW))
        morning = slot_of("h1", "nk", TOMORROW)
        svc.redis.hset(keys.slot(morning), "capacity", 1)
        first = book(svc, 1)
        acct, patient = svc.patient(5, "sms", e164(5))
        joined = svc.waitlist.join(patient.pid, acct, "sms", e164(5), morning)
        svc.booking.book(patient.pid, acct, "sms", slot_of("h1", "nk", TOMORROW, afternoon=True))  # the same day
        svc.booking.cancel(first.serial, "patient:wechat")
        with caplog.at_level(logging.INFO):
            run_periodic(svc)
            run_worker(svc, burst=True)
        ended = svc.waitlist.get(joined.entry.id)
        assert ended is not None and ended.skipped
        assert standin.sent == [] and svc.redis.zcard(keys.WAITLIST_UNSENT) == 0
        [line] = [r for r in caplog.records if "waitlist_skipped" in r.getMessage()]
        assert line.levelno == logging.WARNING and "no template" in line.getMessage()
        logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records).encode()
        assert_no_pii_in_bytes(logged, [phone_number(5), id_number(5), patient_name(5)], "the log")


def test_a_kind_without_a_template_is_not_sent(mainland: Mainland) -> None:
    odd = OutboundMessage("sms", phone_number(1), "welcome", "x", facts={"code": "1"})  # type: ignore[arg-type]
    assert mainland.sender().send(odd).error == "template_facts_missing" and mainland.standin.requests == 0


# --- configuration ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["aliyun", "tencentcloud"])
def test_check_config_refuses_a_kind_without_its_template(provider: str) -> None:
    raw = mainland_raw(provider, "")
    del raw["sms"]["templates"]["offer"]
    with pytest.raises(ConfigError, match=r"sms\.templates\.offer: expected the template code of offer messages"):
        build_config(raw)
    raw["sms"]["templates"]["offer"] = "not-a-code"
    with pytest.raises(ConfigError, match=r"sms\.templates\.offer"):
        build_config(raw)


@pytest.mark.parametrize("kind", [k for k in TEMPLATE_KINDS if k not in OPTIONAL_TEMPLATE_KINDS])
def test_every_kind_of_the_first_release_stays_required(kind: str) -> None:
    raw = mainland_raw("tencentcloud", "")
    del raw["sms"]["templates"][kind]
    with pytest.raises(ConfigError, match=rf"sms\.templates\.{kind}: expected the template code"):
        build_config(raw)


def test_check_config_warns_of_a_later_kind_without_its_template_and_exits_zero(tmp_path: Path) -> None:
    """An upgrade must not wait days for a new template's approval: the config of the release before still runs."""
    config = tmp_path / "config.toml"
    filed = "".join(f'{kind} = "{code}"\n' for kind, code in CODES["aliyun"].items() if kind != "waitlist_skipped")
    config.write_text(
        '[sms]\nprovider = "aliyun"\naccess_key_id = "k"\naccess_key_secret = "s"\nsign_name = "院"\n'
        f"[sms.templates]\n{filed}"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    result = subprocess.run(
        [sys.executable, "-m", "app", "check-config", "--config", str(config)],
        env=clean, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert "sms.templates.waitlist_skipped" in warning and "docs/sms-templates.md" in warning


def test_serve_logs_a_later_kind_without_its_template_as_a_warning_and_serves(tmp_path: Path) -> None:
    """The same configuration under ``serve``: it starts, and its log says once, as a warning, which notices go by
    WeChat only (an operator reads the log, not check-config's output, after an upgrade)."""
    from tests.test_serve import free_port, wait_healthy

    config = tmp_path / "config.toml"
    filed = "".join(f'{kind} = "{code}"\n' for kind, code in CODES["aliyun"].items() if kind != "waitlist_skipped")
    config.write_text(
        f'[redis]\ndata_dir = "{tmp_path / "data"}"\n'
        '[sms]\nprovider = "aliyun"\naccess_key_id = "k"\naccess_key_secret = "s"\nsign_name = "院"\n'
        f"[sms.templates]\n{filed}"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            env=clean, stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, 30)  # type: ignore[arg-type]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(40)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if "waitlist_skipped" in json.dumps(line, ensure_ascii=False)]
    assert warning["level"] == "warning", warning
    assert "sms.templates.waitlist_skipped" in warning["event"] and "docs/sms-templates.md" in warning["event"]
    assert process.returncode == 0


def test_check_config_says_it_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sms]\nprovider = "aliyun"\naccess_key_id = "k"\naccess_key_secret = "s"\nsign_name = "院"\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    result = subprocess.run(
        [sys.executable, "-m", "app", "check-config", "--config", str(config)],
        env=clean, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "sms.templates.otp: expected the template code" in line and "sms.templates.reply_short" in line


def test_check_config_refuses_a_wrong_english_template() -> None:
    raw = mainland_raw("aliyun", "")
    raw["sms"]["templates_en"] = {"otp": "123", "welcome": "SMS_1234"}
    with pytest.raises(ConfigError) as refused:
        build_config(raw)
    assert "sms.templates_en.welcome: expected one of otp" in str(refused.value)
    assert 'sms.templates_en.otp: expected "SMS_" and digits' in str(refused.value)
    raw["sms"]["templates_en"] = {"otp": "SMS_1234"}  # a part is fine: the other kinds go in Chinese
    assert build_config(raw).sms.templates_en == {"otp": "SMS_1234"}


def test_templates_and_limits_come_from_the_environment_too(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sms]\nprovider = "tencentcloud"\nsecret_id = "i"\nsecret_key = "k"\nsdk_app_id = "1"\n')
    env = {
        "GUAHAO_SMS_SIGN_NAME": "第一医院",
        "GUAHAO_SMS_TEMPLATES": json.dumps(CODES["tencentcloud"]),
        "GUAHAO_SMS_PER_PHONE_PER_MINUTE": "5",
    }
    loaded = load_config(config, env=env)
    assert loaded.sms.templates == CODES["tencentcloud"] and loaded.sms.per_phone_per_minute == 5
    assert loaded.source("sms.templates") == "env"


def test_check_config_refuses_a_mainland_provider_without_credentials() -> None:
    raw = mainland_raw("tencentcloud", "")
    del raw["sms"]["sdk_app_id"]
    with pytest.raises(ConfigError, match=r"sms\.sdk_app_id: expected a value"):
        build_config(raw)


def test_the_example_config_documents_every_template_kind() -> None:
    example = (Path(__file__).parent.parent / "config.example.toml").read_text(encoding="utf-8")
    docs = (Path(__file__).parent.parent / "docs" / "sms-templates.md").read_text(encoding="utf-8")
    for kind in TEMPLATE_KINDS:
        assert f"# {kind} = " in example, kind
        assert template(kind).words in docs and template(kind).tencent_words in docs, kind


# --- inbound callbacks -------------------------------------------------------------------------------------------
def up_payload(provider: str, phone: str, text: str, message_id: int) -> Any:
    if provider == "aliyun":
        return [
            {
                "phone_number": phone,
                "send_time": "2026-11-23 08:00:00",
                "content": text,
                "sign_name": "第一医院",
                "dest_code": "1234",
                "sequence_id": message_id,
            }
        ]
    return {
        "extend": "",
        "mobile": phone,
        "nationcode": "86",
        "sign": "第一医院",
        "text": text,
        "time": 1795000000 + message_id,
    }


@pytest.fixture
def web(mainland: Mainland) -> FlaskClient:
    return create_app(mainland.svc, expect_worker=False).test_client()


def post_up(web: FlaskClient, mainland: Mainland, text: str, message_id: int, token: str = TOKEN) -> Any:
    payload = up_payload(mainland.provider, national(4), text, message_id)
    return web.post(f"/sms/{mainland.provider}/up?token={token}", json=payload)


def test_cancel_and_y_through_the_callback_cancel_once_even_when_delivered_twice(
    mainland: Mainland, web: FlaskClient
) -> None:
    svc = mainland.svc
    appointment = book(svc, 4)
    slot = keys.slot(appointment.slot)
    assert svc.redis.hget(slot, "taken") == b"1"
    ok = {"aliyun": {"code": 0, "msg": "成功"}, "tencentcloud": {"result": 0, "errmsg": "OK"}}[mainland.provider]
    for _ in range(2):  # the provider delivers the same message twice
        answer = post_up(web, mainland, f"取消 {appointment.serial}", 1001)
        assert answer.status_code == 200 and answer.get_json() == ok
    for _ in range(2):
        assert post_up(web, mainland, "Y", 1002).status_code == 200
    assert svc.store.require(appointment.serial).status == rules.AppointmentStatus.cancelled
    assert svc.redis.hget(slot, "taken") == b"0", "the place freed once"
    assert mainland.kinds() == ["reply_short", "reply_short"], "one reply per message, not per delivery"
    assert_no_pii(svc.redis, [patient_name(4), id_number(4), phone_number(4)])  # ledgers, counters, replies
    ask, done = (mainland.variables(sent)["reply"] for sent in mainland.standin.sent)
    assert ask.startswith("回复Y确认取消")
    assert appointment.serial in done or mainland.provider == "tencentcloud"


def test_a_retry_racing_the_first_delivery_is_processed_once(mainland: Mainland, web: FlaskClient) -> None:
    """The provider's retry arrives while the first delivery is still being answered: 4 threads at once."""
    appointment = book(mainland.svc, 4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        asks = list(pool.map(lambda _: post_up(web, mainland, f"取消 {appointment.serial}", 6001), range(4)))
        confirms = list(pool.map(lambda _: post_up(web, mainland, "Y", 6002), range(4)))
    assert {a.status_code for a in asks + confirms} == {200}
    assert mainland.svc.store.require(appointment.serial).status == rules.AppointmentStatus.cancelled
    assert mainland.svc.redis.hget(keys.slot(appointment.slot), "taken") == b"0"
    assert mainland.kinds() == ["reply_short", "reply_short"]


def test_td_through_the_callback_opts_the_phone_out(mainland: Mainland, web: FlaskClient) -> None:
    assert post_up(web, mainland, "TD", 2001).status_code == 200
    assert mainland.svc.patients.is_opted_out(phone_hash(mainland.svc.box, e164(4)))
    assert mainland.kinds() == ["reply_short"]
    appointment = book(mainland.svc, 4)
    reminder = mainland.svc.notifier.compose(appointment, "day_before")
    skipped = mainland.svc.notifier.deliver(appointment, OutboxKind.reminder, reminder, "r-4", respect_opt_out=True)
    assert skipped.skipped == "opted_out"
    direct = mainland.sender().send(OutboundMessage("sms", e164(4), OutboxKind.reminder, reminder))
    assert direct.error == OPTED_OUT and mainland.kinds() == ["reply_short"], "no reminder reached the provider"
    assert post_up(web, mainland, "订阅", 2002).status_code == 200
    assert not mainland.svc.patients.is_opted_out(phone_hash(mainland.svc.box, e164(4)))


def test_a_callback_without_the_token_is_forbidden(mainland: Mainland, web: FlaskClient) -> None:
    assert post_up(web, mainland, "查询", 3001, token="wrong-token-0123456789").status_code == 403
    assert (
        web.post(
            f"/sms/{mainland.provider}/up", json=up_payload(mainland.provider, national(4), "查询", 3001)
        ).status_code
        == 403
    )
    assert web.post(f"/sms/{mainland.provider}/report", json=[]).status_code == 403
    assert mainland.standin.requests == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'[{"content": "x"}]', b'{"mobile": "not-a-phone", "text": "x", "time": 1}', b"[1, 2]"],
)
def test_a_malformed_callback_is_a_400(mainland: Mainland, web: FlaskClient, body: bytes) -> None:
    answer = web.post(f"/sms/{mainland.provider}/up?token={TOKEN}", data=body, content_type="application/json")
    assert answer.status_code == 400


def test_delivery_reports_are_recorded(mainland: Mainland, web: FlaskClient) -> None:
    if mainland.provider == "aliyun":
        payload: Any = [
            {
                "phone_number": national(4),
                "success": True,
                "err_code": "DELIVERED",
                "biz_id": "123^0",
                "report_time": "x",
            },
            {
                "phone_number": national(5),
                "success": False,
                "err_code": "MK:0001",
                "biz_id": "124^0",
                "report_time": "x",
            },
        ]
        ids = ("123^0", "124^0")
    else:
        payload = [
            {"mobile": national(4), "nationcode": "86", "report_status": "SUCCESS", "errmsg": "DELIVRD", "sid": "s-1"},
            {"mobile": national(5), "nationcode": "86", "report_status": "FAIL", "errmsg": "MK:0001", "sid": "s-2"},
        ]
        ids = ("s-1", "s-2")
    assert web.post(f"/sms/{mainland.provider}/report?token={TOKEN}", json=payload).status_code == 200
    log = DeliveryLog(mainland.svc.redis, mainland.svc.clock)
    assert log.get(ids[0])["status"] == "delivered"
    assert (log.get(ids[1])["status"], log.get(ids[1])["error_code"]) == ("undelivered", "MK:0001")
    assert web.post(f"/sms/{mainland.provider}/report?token={TOKEN}", json=[{"x": 1}]).status_code == 400


def test_an_oversized_callback_is_a_413(mainland: Mainland, web: FlaskClient) -> None:
    body = json.dumps([{"content": "x" * 300_000}]).encode()
    answer = web.post(f"/sms/{mainland.provider}/up?token={TOKEN}", data=body, content_type="application/json")
    assert answer.status_code == 413


def test_a_reply_over_the_per_phone_limit_is_logged_not_sent(
    redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with AliyunStandIn(KEY_ID, SECRET) as standin:
        svc = make_services(redis_db, build_config(mainland_raw("aliyun", standin.base_url, per_phone_per_minute=1)))
        mainland = Mainland("aliyun", standin, svc)
        web = create_app(svc, expect_worker=False).test_client()
        assert post_up(web, mainland, "帮助", 4001).status_code == 200
        with caplog.at_level(logging.WARNING):
            assert post_up(web, mainland, "查询", 4002).status_code == 200, "the provider is not made to retry"
        assert len(standin.sent) == 1
        assert any("per-phone limit of 1 per minute" in r.getMessage() for r in caplog.records)
        assert any(r.getMessage() == "sms reply not sent" for r in caplog.records)
        scan("aliyun", standin.sent)


def test_a_callback_while_redis_is_down_asks_the_provider_to_deliver_again(redis_db: redis.Redis) -> None:
    """Nothing can be recorded without Redis: a 503, which both providers answer by delivering again later."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    svc = make_services(dead, build_config(mainland_raw("aliyun", "http://127.0.0.1:1")))
    web = create_app(svc, expect_worker=False).test_client()
    answer = web.post(f"/sms/aliyun/up?token={TOKEN}", json=up_payload("aliyun", national(4), "查询", 5001))
    assert answer.status_code == 503 and answer.is_json


def test_without_an_inbound_token_the_callbacks_are_off(redis_db: redis.Redis) -> None:
    raw = mainland_raw("aliyun", "http://127.0.0.1:1", inbound_token="")
    web = create_app(make_services(redis_db, build_config(raw)), expect_worker=False).test_client()
    assert web.post("/sms/aliyun/up?token=", json=[]).status_code == 404


# --- everything the stand-ins received -------------------------------------------------------------------------
def test_the_scan_catches_a_full_phone_an_id_number_or_an_overlong_variable() -> None:
    """The scan every stand-in gets when it stops (the ``mainland`` fixture and the tests with their own) can fail."""
    scan("tencentcloud", [Sent("+8613900000001", "院", "1", ["张*", "12345678"])])
    for bad in ([phone_number(1)], [f"x{id_number(2)}"], ["一二三四五六七八九十一二三"]):
        with pytest.raises(AssertionError):
            scan("tencentcloud", [Sent("+8613900000001", "院", "1", bad)])
