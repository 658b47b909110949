"""Per-patient booking limits (seed 000), counted over appointments not cancelled in time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo

from .dates import add_months, local_date, local_midnight, require_aware
from .model import AppointmentFacts, Decision, SlotFacts
from .policy import Policy

_FREE_ONE = "cancel one of them in time to free a place"


def _week_later(booked_at: datetime, tz: tzinfo) -> datetime:
    """When a booking leaves the 7-day window."""
    return booked_at.astimezone(tz) + timedelta(days=7)


def _three_months_later(booked_at: datetime, tz: tzinfo) -> datetime:
    """When a booking leaves the 3-month window: the first instant t with add_months(t, -3) >= booked_at."""
    local = booked_at.astimezone(tz)
    later = add_months(local, 3)
    if later.day == local.day:
        return later
    # The target month is too short (30 Nov + 3 months): every day of it still maps back before the
    # booking, so the booking leaves the window at the start of the month after.
    return local_midnight(add_months(later.date().replace(day=1), 1), tz)


def _rolling(
    rule: str,
    counted: Sequence[AppointmentFacts],
    cutoff: datetime,
    limit: int,
    leaves_at: Callable[[datetime], datetime],
) -> Decision | None:
    """Refuse when `limit` bookings were made after `cutoff`; retry when enough of them left the window."""
    made = sorted(a.booked_at for a in counted if a.booked_at > cutoff)
    if len(made) < limit:
        return None
    # Once the (len - limit + 1) oldest have left, limit - 1 remain and one more fits.
    retry = leaves_at(made[len(made) - limit])
    return Decision.refuse(rule, retry, f"{len(made)} appointments made in the window, at most {limit}")


def _once_in_window(
    policy: Policy, counted: Sequence[AppointmentFacts], slot: SlotFacts, now: datetime
) -> Decision | None:
    """Hospital variant: one appointment per department (or per doctor) within the booking window."""
    tz = policy.tz
    today = local_date(now, tz)
    last = today + timedelta(days=policy.booking_days_ahead)
    mine = [
        a.slot
        for a in counted
        if a.slot.hospital == slot.hospital
        and a.slot.department == slot.department
        and today <= local_date(a.slot.start, tz) <= last
    ]
    if policy.once_per_department_in_window and mine:
        return Decision.refuse("once_per_department", detail="one appointment per department in the window")
    same_doctor = [s for s in mine if s.doctor == slot.doctor]
    if policy.once_per_doctor_in_window and slot.doctor and same_doctor:
        return Decision.refuse("once_per_doctor", detail="one appointment per doctor in the window")
    return None


def check_limits(policy: Policy, existing: Sequence[AppointmentFacts], slot: SlotFacts, now: datetime) -> Decision:
    """May the patient with appointments `existing` book `slot` at `now` without breaking a limit?"""
    require_aware("now", now)
    tz = policy.tz
    for appointment in existing:
        if not appointment.status.is_cancelled and appointment.slot.same_place_and_time(slot):
            return Decision.refuse("already_booked", detail=f"serial {appointment.serial}")
    counted = [a for a in existing if a.status.counts_toward_limits]
    visit = local_date(slot.start, tz)
    same_date = [a.slot for a in counted if local_date(a.slot.start, tz) == visit]
    same_department = [s for s in same_date if (s.hospital, s.department) == (slot.hospital, slot.department)]
    if len(same_department) >= policy.limit_same_day_department:
        return Decision.refuse("limit_same_day_department", detail=_FREE_ONE)
    if len(same_date) >= policy.limit_same_day:
        return Decision.refuse("limit_same_day", detail=_FREE_ONE)
    now_local = now.astimezone(tz)
    refusal = (
        _once_in_window(policy, counted, slot, now)
        or _rolling(
            "limit_7_days",
            counted,
            now_local - timedelta(days=7),
            policy.limit_7_days,
            lambda booked_at: _week_later(booked_at, tz),
        )
        or _rolling(
            "limit_3_months",
            counted,
            add_months(now_local, -3),
            policy.limit_3_months,
            lambda booked_at: _three_months_later(booked_at, tz),
        )
    )
    return refusal or Decision.ok()
