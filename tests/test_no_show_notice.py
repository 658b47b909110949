"""The no-show notice (SPEC §8, outbox kind ``no_show``): the sweep records a no-show, the patient is told once, on
the channel they booked on, with the count this year and what the third one means (RULES §5)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from adapters.sms.webhook import sms_segments
from bot.clock import ManualClock
from bot.jobs import run_periodic
from bot.records import Appointment
from tests.support import NOW, SHANGHAI, Services, slot_of
from tests.test_reminders import book, tick

TOMORROW = NOW.date() + timedelta(days=1)  # Tuesday 24 November; nk runs 08:00-12:00


def after_the_visit(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 13, 0, tzinfo=SHANGHAI)


def notices(svc: Services, to: str) -> list[str]:
    return [m["text"] for m in svc.outbox.messages_for(to) if m["kind"] == "no_show"]


def test_a_recorded_no_show_is_told_once_with_the_count_and_what_a_third_means(
    svc: Services, clock: ManualClock
) -> None:
    appointment = book(svc, 1, day=TOMORROW)
    tick(svc)
    assert not notices(svc, "openid-1"), "nothing before the visit"
    clock.set(after_the_visit(TOMORROW))
    tick(svc)
    tick(svc)  # the sweep and the worker run again: told once
    assert svc.standing.sweep_no_shows() == 0
    [told] = notices(svc, "openid-1")
    assert appointment.serial in told and "11月24日 周二" in told
    assert "已记爽约" in told and "今年第1次" in told and "满3次将暂停预约3个月" in told


def test_the_third_no_show_says_booking_is_suspended_until_when(svc: Services, clock: ManualClock) -> None:
    acct, patient = svc.patient(2)
    days = [TOMORROW + timedelta(days=n) for n in range(3)]
    for day in days:
        made = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", day))
        svc.reminders.on_booked(made, "openid-2")
    for day in days:  # the sweep runs every few seconds: each no-show is recorded on its own day
        clock.set(after_the_visit(day))
        tick(svc)
    first, second, third = notices(svc, "openid-2")
    assert "今年第1次" in first and "今年第2次" in second
    assert "今年第3次" in third and "预约已暂停至2027年2月25日" in third


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_sms_patient_is_told_by_sms_within_two_segments(svc: Services, clock: ManualClock, lang: str) -> None:
    appointment: Appointment = book(svc, 3, channel="sms", day=TOMORROW)
    svc.patients.set_account_language(appointment.acct, lang)
    clock.set(after_the_visit(TOMORROW))
    assert run_periodic(svc).no_shows == 1
    tick(svc)
    [told] = notices(svc, "13900000003")
    assert appointment.serial in told and sms_segments(told) <= 2, told
    if lang == "en":
        assert "[No-show]" in told and "no-show 1 this year" in told
        assert "At 3, booking is suspended 3 months" in told
    else:
        assert "【爽约记录】" in told and "今年第1次" in told
