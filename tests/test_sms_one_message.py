"""One SMS booking, one confirmation: over SMS the reply is the confirmation, no second 【预约成功】 is pushed
(through the real twilio SDK to the local Twilio stand-in, the worker run as the app runs it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.worker import run_worker
from bot.config import build_config
from tests.support import make_services
from tests.test_sms import AUTH_TOKEN, Phone, make_app, sms_config_raw, with_console_codes
from tests.twilio_standin import TwilioStandIn

PHONE = "+8613900000017"
ACCOUNT_SID = "AC" + "0" * 32


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


def test_one_sms_booking_produces_exactly_one_confirmation(redis_db: redis.Redis, standin: TwilioStandIn) -> None:
    raw = sms_config_raw()
    raw["sms"]["api_base_url"] = standin.base_url
    svc = with_console_codes(make_services(redis_db, build_config(raw)))
    phone = Phone(make_app(svc).test_client(), PHONE)
    phone.verify(17)
    for typed in ("1", "内科", "1", "1"):
        phone.send(typed)
    phone.send("Y")
    run_worker(svc, burst=True)  # the confirmation job, had one been queued, runs here
    replies = [message for _, messages in phone.log for message in messages]
    assert sum("预约成功" in message for message in replies) == 1, replies
    assert [r.form["Body"] for r in standin.messages()] == [], "the TwiML reply was the confirmation: nothing pushed"
    assert not [m for m in svc.outbox.messages_for(PHONE) if m["kind"] == "confirmation"]
