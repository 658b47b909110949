"""Calendar files (SPEC §7): a booking confirmation links ``/calendar/<token>.ics``; the file parses with icalendar
(stable UID, TZID=Asia/Shanghai times with their VTIMEZONE, the place, an alarm per reminder); after a cancellation
the same link says STATUS:CANCELLED with a higher SEQUENCE; an unknown token is a 404; tokens are random, never
derived from the serial; nothing personal in the file. The SMS confirmation stays within 2 segments a message.
Real Redis, the app through Flask's test client, signed Twilio webhooks for SMS."""

from __future__ import annotations

import copy
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from icalendar import Calendar

from adapters.sms.webhook import sms_segments
from app.demo import DEMO_HOSPITALS, demo_schedule_csv
from app.services import build_engine
from app.web import create_app
from bot.config import build_config
from bot.notifications.notifier import Address
from bot.notifications.outbox import OutboxKind
from bot.storage import keys
from dialogs.message import Channel, Inbound
from tests.pii_scan import assert_no_pii, assert_no_pii_in_bytes
from tests.support import CONFIG_RAW, NOW, Services, id_number, make_services, patient_name
from tests.test_sms import Phone, make_app, sms_config_raw, with_console_codes

BASE = "https://guahao.example-hospital.cn"
LINK = re.compile(r"(?:日历|Calendar): (https://\S+/calendar/([A-Za-z0-9_-]+)\.ics)".replace(": ", "[::] ?"))
TOMORROW = NOW.date() + timedelta(days=1)


def services(client: redis.Redis, base: str = BASE) -> Services:
    raw: dict[str, Any] = copy.deepcopy(CONFIG_RAW)
    raw["server"] = {"calendar_base_url": base}
    svc = make_services(client, build_config(raw))
    svc.schedule.import_csv(
        "hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name\n"
        + "".join(f"h1,nk,dr-li,expert,{TOMORROW + timedelta(days=d)},14:00,17:00,20,50,李娜\n" for d in range(3))
    )
    return svc


def book(svc: Services, n: int, days: int = 0) -> str:
    acct, patient = svc.patient(n)
    slot = f"h1|nk|dr-li|{TOMORROW + timedelta(days=days)}|14:00"
    return svc.booking.book(patient.pid, acct, "wechat", slot).serial


def fetch(svc: Services, token: str) -> tuple[int, str]:
    response = create_app(svc, expect_worker=False).test_client().get(f"/calendar/{token}.ics")
    return response.status_code, response.get_data(as_text=True)


def event_of(body: str) -> Any:
    calendar = Calendar.from_ical(body)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_the_wechat_booking_reply_links_a_calendar_file_that_parses(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    svc.patient(1, user="o-cal-1")
    engine = build_engine(svc)
    for typed in ("1", "1", "内科", "1", "1", "Y"):
        replies = [r.text for r in engine.handle(Inbound(Channel.wechat, "o-cal-1", typed))]
    text = "\n".join(replies)
    assert "识别码" in text, text
    found = LINK.search(text)
    assert found is not None, text
    url, token = found.groups()
    assert url.startswith(BASE + "/calendar/")
    status, body = fetch(svc, token)
    assert status == 200
    calendar, event = event_of(body)
    assert str(event["UID"]).endswith("@guahao") and str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert f"DTSTART;TZID=Asia/Shanghai:{TOMORROW:%Y%m%d}T140000" in body.replace("\r\n", "\n")
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=8)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert str(event["LOCATION"]) == "第一医院 北京市西城区1号"
    assert "李娜" in str(event["SUMMARY"]) and "内科" in str(event["SUMMARY"])
    alarms = event.walk("VALARM")
    assert len(alarms) == 3  # the end of free cancellation, the evening before, 2 hours before
    assert all(str(a["ACTION"]) == "DISPLAY" and a.decoded("TRIGGER") < timedelta(0) for a in alarms)
    assert min(-a.decoded("TRIGGER") for a in alarms) == timedelta(hours=2)


def test_after_a_cancellation_the_same_link_says_cancelled_with_a_higher_sequence(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    serial = book(svc, 2)
    token = svc.calendar.token_for(svc.store.require(serial))  # type: ignore[union-attr]
    _, before = event_of(fetch(svc, token)[1])
    svc.booking.cancel(serial, "patient")
    status, body = fetch(svc, token)
    assert status == 200
    _, after = event_of(body)
    assert str(after["UID"]) == str(before["UID"])
    assert str(after["STATUS"]) == "CANCELLED" and int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.walk("VALARM") == []
    assert fetch(svc, token)[1] == body  # the same state, the same file


def test_a_hospital_cancellation_is_cancelled_too(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    serial = book(svc, 3)
    token = svc.calendar.token_for(svc.store.require(serial))  # type: ignore[union-attr]
    progress, _ = svc.broadcasts.create(svc.broadcasts.validate("h1", TOMORROW.isoformat(), "停诊", cancel=True), "t")
    svc.broadcasts.run(progress.id)
    _, event = event_of(fetch(svc, token)[1])
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1


@pytest.mark.parametrize("token", ["nope", "A" * 16, "", "x" * 200, "..%2f..", "12345678"])
def test_an_unknown_token_is_404(redis_db: redis.Redis, token: str) -> None:
    svc = services(redis_db)
    serial = book(svc, 4)
    svc.calendar.token_for(svc.store.require(serial))  # type: ignore[union-attr]
    status, body = fetch(svc, token or "x")
    assert status == 404 and serial not in body
    assert fetch(svc, serial)[0] == 404  # the serial is no token


def test_tokens_are_random_not_derived_from_the_serial(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    links = svc.calendar
    assert links is not None
    first, second = (svc.store.require(book(svc, n, days=n - 5)) for n in (5, 6))
    token = links.token_for(first)
    assert links.token_for(first) == token  # stable for the appointment
    assert links.token_for(second) != token
    assert first.serial not in token and len(token) >= 16
    assert token not in str(redis_db.get(keys.calendar_link(first.serial)))  # encrypted at rest
    # made again from nothing for the same serial: another token (random, not a function of the serial)
    redis_db.delete(keys.calendar_link(first.serial))
    again = links.token_for(first)
    assert again != token
    assert links.serial_of(token) == first.serial and links.serial_of(again) == first.serial


def test_two_callers_at_once_get_one_token(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    appointment = svc.store.require(book(svc, 7))
    assert svc.calendar is not None
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(svc.calendar.token_for(appointment))) for _ in range(8)]  # type: ignore[union-attr]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 8


def test_nothing_personal_in_the_file(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    serials = [book(svc, n) for n in (8, 9)]
    svc.booking.cancel(serials[1], "patient")
    for n, serial in zip((8, 9), serials, strict=True):
        body = fetch(svc, svc.calendar.token_for(svc.store.require(serial)))[1]  # type: ignore[union-attr]
        phone = f"139{n:08d}"
        for secret in (id_number(n), id_number(n)[-8:], phone, phone[-8:], patient_name(n)):
            assert secret not in body, secret
        assert_no_pii_in_bytes(body.encode(), [id_number(n), phone, patient_name(n)], "the calendar file")
    # nor at rest: the tokens, the appointments, everything Redis holds
    assert_no_pii(redis_db, [s for n in (8, 9) for s in (id_number(n), f"139{n:08d}", patient_name(n))])


def test_the_wechat_confirmation_push_carries_the_link_its_sms_fallback_does_not(redis_db: redis.Redis) -> None:
    svc = services(redis_db)
    appointment = svc.store.require(book(svc, 10))
    body = svc.notifier.compose(appointment, "confirmation")
    svc.notifier.deliver(appointment, OutboxKind.confirmation, body, "c-1", address=Address("wechat", "o-10"))
    [pushed] = svc.outbox.messages_for("o-10")
    assert LINK.search(pushed["text"]) and pushed["text"].startswith(body)
    svc.notifier.deliver(appointment, OutboxKind.confirmation, body, "c-2", lookup=False)  # no address: SMS
    [sms] = svc.outbox.messages_for("13900000010")
    assert sms["text"] == body and not LINK.search(sms["text"])


def test_without_a_base_url_no_link(redis_db: redis.Redis) -> None:
    svc = services(redis_db, base="")
    appointment = svc.store.require(book(svc, 11))
    assert svc.calendar is not None and svc.calendar.url_for(appointment) is None
    body = svc.notifier.compose(appointment, "confirmation")
    svc.notifier.deliver(appointment, OutboxKind.confirmation, body, "c-3", address=Address("wechat", "o-11"))
    assert not LINK.search(svc.outbox.messages_for("o-11")[0]["text"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_sms_confirmation_with_the_longest_names_and_the_link_fits_two_segments(
    redis_db: redis.Redis, lang: str
) -> None:
    raw = sms_config_raw()
    raw["server"]["calendar_base_url"] = BASE
    raw["hospitals"] = [*raw["hospitals"], *copy.deepcopy(DEMO_HOSPITALS)]
    svc = with_console_codes(make_services(redis_db, build_config(raw)))
    svc.schedule.import_csv(demo_schedule_csv(NOW.date()))
    phone = Phone(make_app(svc).test_client(), "+8613900000066")
    if lang == "en":
        phone.send("English")
    for typed in ("预约", "欧阳娜娜", id_number(66, birth="20200101"), "4", "1", "1", "1", "Y"):
        phone.send(typed)
    messages = phone.log[-1][1]
    assert any("识别码" in m or "Serial" in m for m in messages), messages
    links = [LINK.search(m) for m in messages]
    assert any(links), messages
    assert all(sms_segments(m) <= 2 for m in messages), [(sms_segments(m), m) for m in messages]
    token = next(found for found in links if found).group(2)
    assert fetch(svc, token)[0] == 200
