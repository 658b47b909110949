"""Booking window: which visit dates may be booked now (seed 000: tomorrow .. today+7, from release_time)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .dates import local_date, require_aware
from .model import Decision
from .policy import Policy


def release_at(policy: Policy, visit_date: date) -> datetime:
    """When the slots of `visit_date` open: release_time, booking_days_ahead days before it."""
    opening_day = visit_date - timedelta(days=policy.booking_days_ahead)
    return datetime.combine(opening_day, policy.release_clock, tzinfo=policy.tz)


def _first_day(policy: Policy, today: date) -> date:
    return today if policy.same_day else today + timedelta(days=1)


def booking_window(policy: Policy, now: datetime) -> tuple[date, date]:
    """First and last bookable visit dates at `now` (empty when last < first: same-day before release)."""
    require_aware("now", now)
    today = local_date(now, policy.tz)
    last = today + timedelta(days=policy.booking_days_ahead)
    if now < release_at(policy, last):
        last -= timedelta(days=1)
    return _first_day(policy, today), last


def check_window(policy: Policy, visit_date: date, now: datetime) -> Decision:
    """May `visit_date` be booked at `now`? Refusals: window_past, window_too_far, window_too_early."""
    require_aware("now", now)
    today = local_date(now, policy.tz)
    first = _first_day(policy, today)
    if visit_date < first:
        return Decision.refuse("window_past", detail=f"first bookable date is {first.isoformat()}")
    opens = release_at(policy, visit_date)
    if visit_date > today + timedelta(days=policy.booking_days_ahead):
        return Decision.refuse("window_too_far", opens, f"bookable from {opens.isoformat()}")
    if now < opens:
        return Decision.refuse("window_too_early", opens, f"bookable from {opens.isoformat()}")
    return Decision.ok()
