"""Booking, cancellation, check-in, no-shows and standing against a real Redis, with a moved clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import redis

import rules
from bot.audit import read_audit, staff_actor
from bot.booking import BookingRefused, CancelRefused
from bot.errors import InvalidRequestError, NotFoundError
from bot.storage import keys
from tests.support import NOW, SHANGHAI, Services, clock, make_config, make_services, schedule_csv, slot_of

TOMORROW = NOW.date() + timedelta(days=1)


def refused_rule(svc: Services, pid: str, acct: str, slot: str) -> str | None:
    with pytest.raises(BookingRefused) as caught:
        svc.booking.book(pid, acct, "wechat", slot)
    return caught.value.decision.rule


def test_booking_writes_and_indexes_an_appointment(svc: Services) -> None:
    acct, patient = svc.patient(1)
    slot = slot_of("h1", "nk", TOMORROW)
    appointment = svc.booking.book(patient.pid, acct, "wechat", slot)

    assert len(appointment.serial) == 8 and appointment.serial.isdigit()
    assert appointment.queue_no == 1 and appointment.status == rules.AppointmentStatus.booked
    assert (appointment.hospital, appointment.department, appointment.date, appointment.start) == (
        "h1", "nk", TOMORROW.isoformat(), "08:00",
    )  # fmt: skip
    assert appointment.patient_name_masked == "张*" and appointment.fee_cents == 500
    assert svc.schedule.slot(slot).places_left == 19  # type: ignore[union-attr]
    assert svc.store.of_patient(patient.pid) == [appointment]
    assert svc.store.listing(day=TOMORROW.isoformat()) == [appointment]
    assert [e.action for e in read_audit(svc.redis, serial=appointment.serial)] == ["booked"]


def test_queue_numbers_follow_booking_order(svc: Services) -> None:
    slot = slot_of("h1", "nk", TOMORROW)
    numbers = []
    for n in range(1, 4):
        acct, patient = svc.patient(n)
        numbers.append(svc.booking.book(patient.pid, acct, "wechat", slot).queue_no)
    assert numbers == [1, 2, 3]


def test_full_and_suspended_slots_are_refused(svc: Services, redis_db: redis.Redis) -> None:
    slot = slot_of("h1", "nk", TOMORROW)
    redis_db.hset(keys.slot(slot), "capacity", 1)
    acct, first = svc.patient(1)
    svc.booking.book(first.pid, acct, "wechat", slot)
    acct2, second = svc.patient(2)
    assert refused_rule(svc, second.pid, acct2, slot) == "slot_full"
    svc.schedule.set_slot_status(slot_of("h1", "wk", TOMORROW), "suspended")
    assert refused_rule(svc, second.pid, acct2, slot_of("h1", "wk", TOMORROW)) == "slot_closed"
    assert refused_rule(svc, second.pid, acct2, "h1|nk|nobody|2026-11-24|08:00") == "no_slot"


@pytest.mark.parametrize(
    ("bookings", "refused_by"),
    [
        # same date + hospital + department: 1
        ([("h1", "nk", 1, False)], ("h1", "nk", 1, True, "limit_same_day_department")),
        # same date, all hospitals: 2
        ([("h1", "nk", 1, False), ("h1", "wk", 1, False)], ("h2", "nk", 1, False, "limit_same_day")),
        # made in the last 7 days: 3
        (
            [("h1", "nk", 1, False), ("h1", "nk", 2, False), ("h1", "nk", 3, False)],
            ("h1", "nk", 4, False, "limit_7_days"),
        ),
    ],
)
def test_each_limit_refuses_with_its_rule(
    svc: Services, bookings: list[tuple[str, str, int, bool]], refused_by: tuple[str, str, int, bool, str]
) -> None:
    acct, patient = svc.patient(1)
    for hospital, department, offset, afternoon in bookings:
        svc.booking.book(
            patient.pid, acct, "wechat", slot_of(hospital, department, NOW.date() + timedelta(offset), afternoon)
        )
    hospital, department, offset, afternoon, rule = refused_by
    assert (
        refused_rule(svc, patient.pid, acct, slot_of(hospital, department, NOW.date() + timedelta(offset), afternoon))
        == rule
    )


def test_limits_follow_the_patient_not_the_account(svc: Services) -> None:
    acct, patient = svc.patient(1)
    svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    other_account, same_patient = svc.patient(1, channel="wechat", user="another-openid")
    assert same_patient.pid == patient.pid
    assert (
        refused_rule(svc, patient.pid, other_account, slot_of("h1", "nk", TOMORROW, True))
        == "limit_same_day_department"
    )


def test_window_and_started_slots(svc: Services) -> None:
    acct, patient = svc.patient(1)
    svc.schedule.import_csv(
        "hospital,department,doctor,level,date,start,end,capacity,fee\nh1,nk,dr-nk,general,2026-12-05,08:00,12:00,5,5\n"
    )
    assert refused_rule(svc, patient.pid, acct, slot_of("h1", "nk", date(2026, 12, 5))) == "window_too_far"
    clock(svc).set(datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI))
    assert refused_rule(svc, patient.pid, acct, slot_of("h1", "nk", TOMORROW)) in ("window_past", "slot_started")


def test_timely_cancellation_frees_place_and_quota(svc: Services) -> None:
    acct, patient = svc.patient(1)
    slot = slot_of("h1", "nk", TOMORROW)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot)
    _, terms = svc.booking.cancel_terms(booked.serial)
    assert terms.outcome == rules.CancelOutcome.timely and terms.refund_cents == 500

    cancelled, _ = svc.booking.cancel(booked.serial, "patient:wechat", pids={patient.pid})
    assert cancelled.status == rules.AppointmentStatus.cancelled and cancelled.refund_cents == 500
    assert svc.schedule.slot(slot).places_left == 20  # type: ignore[union-attr]
    again = svc.booking.book(patient.pid, acct, "wechat", slot)  # the quota is free again
    assert again.queue_no == 2  # queue numbers are never reused
    with pytest.raises(InvalidRequestError, match="not booked"):
        svc.booking.cancel(booked.serial, "patient:wechat")


def test_cancelling_someone_elses_serial_looks_like_an_unknown_serial(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    _, stranger = svc.patient(2)
    with pytest.raises(NotFoundError):
        svc.booking.cancel(booked.serial, "patient:wechat", pids={stranger.pid})
    with pytest.raises(NotFoundError):
        svc.booking.cancel("12345678", "patient:wechat")


def test_deadline_15_00_the_day_before(svc: Services) -> None:
    acct, patient = svc.patient(1)
    visit = NOW.date() + timedelta(days=2)
    first = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", visit))
    clock(svc).set(
        datetime.combine(visit - timedelta(days=1), datetime.min.time(), SHANGHAI).replace(
            hour=14, minute=59, second=59
        )
    )
    assert svc.booking.cancel_terms(first.serial)[1].outcome == rules.CancelOutcome.timely
    clock(svc).advance(timedelta(seconds=1))
    with pytest.raises(CancelRefused) as caught:
        svc.booking.cancel(first.serial, "patient:wechat")
    assert caught.value.terms.rule == "cancel_deadline_passed"
    assert svc.store.require(first.serial).status == rules.AppointmentStatus.booked


def test_hospital_with_a_14_00_deadline(svc: Services) -> None:
    acct, patient = svc.patient(1)
    visit = NOW.date() + timedelta(days=2)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot_of("h2", "nk", visit))
    clock(svc).set(datetime.combine(visit - timedelta(days=1), datetime.min.time(), SHANGHAI).replace(hour=14))
    with pytest.raises(CancelRefused):
        svc.booking.cancel(booked.serial, "patient:wechat")


def test_late_cancellation_with_violation(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db, make_config(late_cancel="allow_with_violation"))
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    acct, patient = svc.patient(1)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW, afternoon=True))
    clock(svc).set(datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))  # visit day, before the 14:00 start
    cancelled, terms = svc.booking.cancel(booked.serial, "patient:wechat")
    assert cancelled.status == rules.AppointmentStatus.cancelled_late and terms.violation
    assert cancelled.refund_cents == 4000  # expert fee, less than 24 h before: 20 % deducted
    assert redis_db.zscore(keys.patient_violations(patient.pid), booked.serial) is not None


def test_hospital_cancellation_is_never_a_violation(svc: Services) -> None:
    acct, patient = svc.patient(1)
    slot = slot_of("h1", "nk", TOMORROW)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot)
    clock(svc).set(datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI))  # past the patient's deadline
    cancelled = svc.booking.cancel_by_hospital(booked.serial, staff_actor("desk"), release_place=False)
    assert cancelled.status == rules.AppointmentStatus.cancelled_by_hospital and cancelled.refund_cents == 500
    assert svc.redis.zcard(keys.patient_violations(patient.pid)) == 0
    assert svc.schedule.slot(slot).taken == 1  # type: ignore[union-attr]  # not returned to sale
    assert [e.actor for e in read_audit(svc.redis, serial=booked.serial)] == ["patient:wechat", "staff:desk"]


def test_checkin_on_the_day_before_the_deadline(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    with pytest.raises(InvalidRequestError, match="check in on that day"):
        svc.standing.checkin(booked.serial, staff_actor("desk"))
    clock(svc).set(datetime(2026, 11, 24, 7, 45, tzinfo=SHANGHAI))
    attended = svc.standing.checkin(booked.serial, staff_actor("desk"))
    assert attended.status == rules.AppointmentStatus.attended and attended.checked_in_at is not None
    with pytest.raises(InvalidRequestError, match="already attended"):
        svc.standing.checkin(booked.serial, staff_actor("desk"))
    clock(svc).set(datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI))
    assert svc.standing.sweep_no_shows() == 0


def test_checkin_after_the_deadline_is_refused(svc: Services) -> None:
    acct, patient = svc.patient(1)
    booked = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    clock(svc).set(datetime(2026, 11, 24, 8, 1, tzinfo=SHANGHAI))
    with pytest.raises(InvalidRequestError, match="deadline"):
        svc.standing.checkin(booked.serial, staff_actor("desk"))


def miss(svc: Services, pid: str, acct: str, visit: date) -> str:
    """Book a morning slot on ``visit`` (clock set to two days before) and let it pass unattended."""
    clock(svc).set(datetime.combine(visit - timedelta(days=2), datetime.min.time(), SHANGHAI).replace(hour=9))
    booked = svc.booking.book(pid, acct, "wechat", slot_of("h1", "nk", visit))
    clock(svc).set(datetime.combine(visit, datetime.min.time(), SHANGHAI).replace(hour=12, minute=5))
    assert svc.standing.sweep_no_shows() == 1
    assert svc.store.require(booked.serial).status == rules.AppointmentStatus.no_show
    return booked.serial


def test_third_no_show_suspends_booking_and_a_waiver_lifts_it(svc: Services) -> None:
    acct, patient = svc.patient(1)
    first = NOW.date() + timedelta(days=2)
    svc.schedule.import_csv(schedule_csv(first, days=40, hospitals=("h1",)))
    serials = [miss(svc, patient.pid, acct, first + timedelta(days=10 * i)) for i in range(3)]
    standing = svc.standing.standing(patient.pid)
    third = first + timedelta(days=20)
    assert standing.no_shows_this_year == 3
    assert standing.suspended_until == rules.add_months(third, 3) - timedelta(days=1)
    assert (
        svc.redis.hget(keys.standing(patient.pid), "suspended_until") == standing.suspended_until.isoformat().encode()
    )  # type: ignore[union-attr]
    with pytest.raises(BookingRefused) as caught:
        svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "wk", third + timedelta(days=2)))
    assert caught.value.decision.rule == "suspended"

    waived = svc.standing.waive(serials[0], staff_actor("desk"))
    assert waived.status == rules.AppointmentStatus.no_show_waived
    assert svc.standing.standing(patient.pid).suspended_until is None
    assert svc.redis.hget(keys.standing(patient.pid), "suspended_until") == b""
    svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "wk", third + timedelta(days=2)))
    assert "standing_changed" in [e.action for e in read_audit(svc.redis)]


def test_sweep_is_idempotent_and_safe_from_many_workers(svc: Services) -> None:
    import threading

    for n in range(1, 21):
        acct, patient = svc.patient(n)
        svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    clock(svc).set(datetime(2026, 11, 24, 12, 30, tzinfo=SHANGHAI))
    counts: list[int] = []
    workers = [threading.Thread(target=lambda: counts.append(svc.standing.sweep_no_shows())) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(counts) == 20
    assert svc.standing.sweep_no_shows() == 0
    no_shows = [e for e in read_audit(svc.redis) if e.action == "no_show"]
    assert len(no_shows) == 20 and len({e.serial for e in no_shows}) == 20
    assert all(svc.redis.zcard(keys.patient_violations(a.pid)) == 1 for a in svc.store.listing())


def test_flag_for_abuse_blocks_booking(svc: Services) -> None:
    acct, patient = svc.patient(1)
    svc.standing.flag(patient.pid, date(2027, 1, 31), "号贩子", staff_actor("desk"))
    with pytest.raises(BookingRefused) as caught:
        svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))
    assert caught.value.decision.rule == "flagged"
    svc.standing.flag(patient.pid, None, "", staff_actor("desk"))
    svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "nk", TOMORROW))


def test_staff_listing_filters(svc: Services) -> None:
    for n, (hospital, department) in enumerate([("h1", "nk"), ("h1", "wk"), ("h2", "nk")], start=1):
        acct, patient = svc.patient(n)
        svc.booking.book(patient.pid, acct, "wechat", slot_of(hospital, department, TOMORROW))
    day = TOMORROW.isoformat()
    assert len(svc.store.listing()) == 3
    assert len(svc.store.listing(day=day, hospital="h1")) == 2
    assert [a.department for a in svc.store.listing(day=day, hospital="h1", department="wk")] == ["wk"]
    assert svc.store.listing(day="2026-12-31") == []
