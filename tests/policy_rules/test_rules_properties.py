"""Property tests: ID check digits and the rolling limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import (
    AppointmentFacts,
    AppointmentStatus,
    FeeClass,
    Policy,
    SlotFacts,
    add_months,
    booking_window,
    check_limits,
    check_window,
    id_check_digit,
    validate_id_number,
)

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2025, 1, 1)

# --- ID numbers ----------------------------------------------------------------------------------------

valid_ids = st.builds(
    lambda region, born, sequence: (
        f"{region:06d}{born:%Y%m%d}{sequence:03d}" + id_check_digit(f"{region:06d}{born:%Y%m%d}{sequence:03d}")
    ),
    st.integers(0, 999_999),
    st.dates(date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)


@given(valid_ids)
def test_generated_ids_are_accepted(id_number: str) -> None:
    check = validate_id_number(id_number, today=TODAY)
    assert check.valid and check.normalized == id_number
    assert validate_id_number(id_number.lower(), today=TODAY).valid


@given(valid_ids, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_substitution_is_refused(id_number: str, position: int, replacement: str) -> None:
    if id_number[position] == replacement:
        replacement = "X" if replacement != "X" else "0"
    changed = id_number[:position] + replacement + id_number[position + 1 :]
    check = validate_id_number(changed, today=TODAY)
    assert not check.valid
    assert check.reason in ("length", "birth_date", "check_digit")


# --- limits --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    gap_minutes: int  # since the previous attempt
    days_ahead: int  # visit date relative to the attempt's date
    hospital: int
    department: int
    cancel: int | None  # index of an earlier appointment to cancel in time instead of booking


attempts = st.lists(
    st.builds(
        Attempt,
        st.integers(1, 600) | st.integers(1, 60 * 24 * 12),
        st.integers(1, 7),
        st.integers(0, 2),
        st.integers(0, 1),
        st.none() | st.integers(0, 40),
    ),
    max_size=60,
)
policies = st.builds(
    Policy,
    limit_same_day_department=st.integers(1, 2),
    limit_same_day=st.integers(1, 3),
    limit_7_days=st.integers(1, 4),
    limit_3_months=st.integers(1, 7),
    once_per_department_in_window=st.booleans(),
)


def in_window(booked: list[datetime], since: datetime) -> int:
    return sum(1 for b in booked if b > since)


@settings(max_examples=300, deadline=None)
@given(policies, attempts)
def test_limits_are_never_exceeded(policy: Policy, steps: list[Attempt]) -> None:
    now = datetime(2024, 1, 1, 8, tzinfo=TZ)
    made: list[AppointmentFacts] = []
    for i, step in enumerate(steps):
        now += timedelta(minutes=step.gap_minutes)
        if step.cancel is not None and step.cancel < len(made):
            old = made[step.cancel]
            made[step.cancel] = AppointmentFacts(old.serial, old.slot, AppointmentStatus.cancelled, old.booked_at)
            continue
        start = datetime.combine(now.date() + timedelta(days=step.days_ahead), datetime.min.time(), TZ)
        start += timedelta(hours=8 + i % 9)
        slot = SlotFacts(
            f"H{step.hospital}",
            f"D{step.department}",
            "",
            FeeClass.general,
            0,
            start,
            start + timedelta(hours=1),
        )
        decision = check_limits(policy, made, slot, now)
        if decision.rule in ("limit_7_days", "limit_3_months"):
            assert_earliest_retry(policy, made, decision.rule, decision.retry_after, now)
        if decision.allowed:
            made.append(AppointmentFacts(str(i), slot, AppointmentStatus.booked, now))
    assert_limits_hold(policy, [a for a in made if a.status.counts_toward_limits])


def assert_earliest_retry(
    policy: Policy, made: list[AppointmentFacts], rule: str, retry: datetime | None, now: datetime
) -> None:
    """At retry_after the window has a free place; a microsecond earlier it has none."""
    assert retry is not None and retry > now
    booked = [a.booked_at for a in made if a.status.counts_toward_limits]
    limit = policy.limit_7_days if rule == "limit_7_days" else policy.limit_3_months

    def since(t: datetime) -> datetime:
        return t - timedelta(days=7) if rule == "limit_7_days" else add_months(t.astimezone(TZ), -3)

    assert in_window(booked, since(retry)) < limit
    assert in_window(booked, since(retry - timedelta(microseconds=1))) >= limit


def assert_limits_hold(policy: Policy, counted: list[AppointmentFacts]) -> None:
    by_date: dict[date, int] = {}
    by_department: dict[tuple[date, str, str], int] = {}
    for a in counted:
        visit = a.slot.start.astimezone(TZ).date()
        by_date[visit] = by_date.get(visit, 0) + 1
        key = (visit, a.slot.hospital, a.slot.department)
        by_department[key] = by_department.get(key, 0) + 1
    assert all(n <= policy.limit_same_day for n in by_date.values())
    assert all(n <= policy.limit_same_day_department for n in by_department.values())
    booked = [a.booked_at for a in counted]
    for moment in booked:
        # Only bookings made up to `moment` existed then; later ones are checked at their own moment.
        earlier = [b for b in booked if b <= moment]
        assert in_window(earlier, moment - timedelta(days=7)) <= policy.limit_7_days
        assert in_window(earlier, add_months(moment.astimezone(TZ), -3)) <= policy.limit_3_months
    if policy.once_per_department_in_window:
        for a in counted:
            rivals = [
                b
                for b in counted
                if b is not a
                and (b.slot.hospital, b.slot.department) == (a.slot.hospital, a.slot.department)
                and b.booked_at < a.booked_at
                and a.booked_at.date() <= b.slot.start.date() <= a.booked_at.date() + timedelta(days=7)
            ]
            assert rivals == []


@given(
    st.builds(Policy, booking_days_ahead=st.integers(1, 14), same_day=st.booleans()),
    # hypothesis takes naive bounds and attaches the zone itself
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(TZ)),  # noqa: DTZ001
    st.integers(-3, 16),
)
def test_check_window_agrees_with_booking_window(policy: Policy, now: datetime, offset: int) -> None:
    first, last = booking_window(policy, now)
    visit = now.date() + timedelta(days=offset)
    assert check_window(policy, visit, now).allowed == (first <= visit <= last)
