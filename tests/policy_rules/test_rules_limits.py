"""Per-patient limits: same day/department, same day, 7 days, 3 months, once-per variants."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import AppointmentFacts, AppointmentStatus, Decision, FeeClass, Policy, SlotFacts, check_limits

TZ = ZoneInfo("Asia/Shanghai")
POLICY = Policy()
NOW = datetime(2024, 3, 10, 10, 0, tzinfo=TZ)
FREE_ONE = "cancel one of them in time to free a place"


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def slot(start: datetime, hospital: str = "协和", department: str = "内科", doctor: str = "王医生") -> SlotFacts:
    return SlotFacts(hospital, department, doctor, FeeClass.general, 500, start, start + timedelta(minutes=30))


def appt(
    start: datetime,
    booked_at: datetime = NOW - timedelta(days=30),
    status: AppointmentStatus = AppointmentStatus.booked,
    **where: str,
) -> AppointmentFacts:
    return AppointmentFacts(f"S{start:%m%d%H%M}", slot(start, **where), status, booked_at)


def test_nothing_booked_is_allowed() -> None:
    assert check_limits(POLICY, [], slot(at(2024, 3, 12)), NOW) == Decision.ok()


def test_same_slot_twice() -> None:
    existing = [appt(at(2024, 3, 12))]
    assert check_limits(POLICY, existing, slot(at(2024, 3, 12)), NOW) == Decision(
        False, "already_booked", None, "serial S03120900"
    )


@pytest.mark.parametrize(
    ("status", "rule"),
    [
        (AppointmentStatus.cancelled, None),
        (AppointmentStatus.cancelled_by_hospital, None),
        (AppointmentStatus.cancelled_late, "limit_same_day_department"),
        (AppointmentStatus.booked, "already_booked"),
        (AppointmentStatus.attended, "already_booked"),
        (AppointmentStatus.no_show, "already_booked"),
        (AppointmentStatus.no_show_waived, "already_booked"),
    ],
)
def test_same_slot_by_status(status: AppointmentStatus, rule: str | None) -> None:
    decision = check_limits(POLICY, [appt(at(2024, 3, 12), status=status)], slot(at(2024, 3, 12)), NOW)
    assert (decision.allowed, decision.rule) == (rule is None, rule)


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        (AppointmentStatus.booked, True),
        (AppointmentStatus.cancelled, False),
        (AppointmentStatus.cancelled_late, True),
        (AppointmentStatus.cancelled_by_hospital, False),
        (AppointmentStatus.attended, True),
        (AppointmentStatus.no_show, True),
        (AppointmentStatus.no_show_waived, True),
    ],
)
def test_which_statuses_count(status: AppointmentStatus, counts: bool) -> None:
    existing = [appt(at(2024, 3, 12, 8), status=status, doctor="李医生")]
    decision = check_limits(POLICY, existing, slot(at(2024, 3, 12, 14)), NOW)
    expected = Decision(False, "limit_same_day_department", None, FREE_ONE) if counts else Decision.ok()
    assert decision == expected
    assert status.counts_toward_limits is counts


def test_same_day_all_hospitals() -> None:
    existing = [appt(at(2024, 3, 12, 8), hospital="同仁"), appt(at(2024, 3, 12, 10), hospital="朝阳")]
    assert check_limits(POLICY, existing, slot(at(2024, 3, 12, 15)), NOW) == Decision(
        False, "limit_same_day", None, FREE_ONE
    )
    assert check_limits(POLICY, existing[:1], slot(at(2024, 3, 12, 15)), NOW).allowed
    assert check_limits(POLICY, existing, slot(at(2024, 3, 13, 15)), NOW).allowed


def test_same_day_is_the_local_visit_date() -> None:
    # 00:30 on the 13th in Beijing is 16:30 UTC on the 12th, the same UTC date as 23:00 on the 12th local.
    existing = [appt(at(2024, 3, 13, 0, 30))]
    assert check_limits(POLICY, existing, slot(at(2024, 3, 12, 23)), NOW).allowed


def test_department_limit_can_be_raised() -> None:
    policy = Policy(limit_same_day_department=2)
    existing = [appt(at(2024, 3, 12, 8))]
    assert check_limits(policy, existing, slot(at(2024, 3, 12, 14)), NOW).allowed


def spread(*booked: datetime) -> list[AppointmentFacts]:
    """Appointments made at the given times, each on its own visit date so no same-day rule interferes."""
    return [appt(at(2024, 4, 1 + i), booked_at=b, hospital=f"H{i}") for i, b in enumerate(booked)]


def test_seven_days_rolling_by_booking_time() -> None:
    existing = spread(NOW - timedelta(days=6), NOW - timedelta(days=3), NOW - timedelta(hours=1))
    decision = check_limits(POLICY, existing, slot(at(2024, 3, 15)), NOW)
    assert (decision.allowed, decision.rule) == (False, "limit_7_days")
    assert decision.retry_after == NOW + timedelta(days=1)
    assert decision.detail == "3 appointments made in the window, at most 3"


def test_seven_days_boundary_is_exclusive() -> None:
    existing = spread(NOW - timedelta(days=7), NOW - timedelta(days=3), NOW - timedelta(hours=1))
    assert check_limits(POLICY, existing, slot(at(2024, 3, 15)), NOW).allowed


def test_seven_days_retry_with_more_than_the_limit() -> None:
    # A lowered limit: 3 made, limit 2 -> two must leave, i.e. the second oldest.
    policy = Policy(limit_7_days=2)
    existing = spread(NOW - timedelta(days=5), NOW - timedelta(days=6), NOW - timedelta(days=1))
    decision = check_limits(policy, existing, slot(at(2024, 3, 15)), NOW)
    assert (decision.rule, decision.retry_after) == ("limit_7_days", NOW + timedelta(days=2))


def test_cancelled_in_time_frees_the_weekly_quota_but_late_does_not() -> None:
    existing = spread(NOW - timedelta(days=6), NOW - timedelta(days=3), NOW - timedelta(hours=1))
    timely = [*existing[:2], appt(at(2024, 4, 9), NOW - timedelta(hours=1), AppointmentStatus.cancelled)]
    late = [*existing[:2], appt(at(2024, 4, 9), NOW - timedelta(hours=1), AppointmentStatus.cancelled_late)]
    assert check_limits(POLICY, timely, slot(at(2024, 3, 15)), NOW).allowed
    assert check_limits(POLICY, late, slot(at(2024, 3, 15)), NOW).rule == "limit_7_days"


@pytest.mark.parametrize(
    ("oldest", "now", "retry"),
    [
        # 10 Dec + 3 months = 10 Mar, same time of day.
        (at(2023, 12, 10, 10), at(2024, 2, 20, 12), at(2024, 3, 10, 10)),
        # 30 Nov + 3 months has no 30 Feb: every Feb day maps back before 30 Nov, so 1 Mar 00:00.
        (at(2023, 11, 30, 10), at(2024, 2, 20, 12), at(2024, 3, 1, 0)),
        (at(2024, 5, 31, 18), at(2024, 8, 20, 12), at(2024, 8, 31, 18)),
        (at(2024, 3, 31, 18), at(2024, 6, 20, 12), at(2024, 7, 1, 0)),
    ],
)
def test_three_months_rolling_by_booking_time(oldest: datetime, now: datetime, retry: datetime) -> None:
    booked = [oldest] + [oldest + timedelta(days=10 * i) for i in range(1, 5)]
    existing = spread(*booked)
    decision = check_limits(POLICY, existing, slot(at(2024, 9, 30)), now)
    assert (decision.rule, decision.retry_after) == ("limit_3_months", retry)
    assert check_limits(POLICY, existing, slot(at(2024, 9, 30)), retry).allowed
    assert not check_limits(POLICY, existing, slot(at(2024, 9, 30)), retry - timedelta(microseconds=1)).allowed


def test_three_months_boundary_is_exclusive() -> None:
    booked = [at(2023, 12, 10, 10)] + [at(2024, 1, 1 + 7 * i) for i in range(4)]
    now = at(2024, 3, 10, 10)
    assert check_limits(POLICY, spread(*booked), slot(at(2024, 9, 30)), now).allowed


ONCE_DEPT = Policy(once_per_department_in_window=True)
ONCE_DOCTOR = Policy(once_per_doctor_in_window=True)


@pytest.mark.parametrize(
    ("policy", "existing", "new", "rule"),
    [
        (ONCE_DEPT, appt(at(2024, 3, 12)), slot(at(2024, 3, 15), doctor="李医生"), "once_per_department"),
        (ONCE_DEPT, appt(at(2024, 3, 17)), slot(at(2024, 3, 11)), "once_per_department"),
        (ONCE_DEPT, appt(at(2024, 3, 10, 8)), slot(at(2024, 3, 15)), "once_per_department"),  # today counts
        (ONCE_DEPT, appt(at(2024, 3, 9)), slot(at(2024, 3, 15)), None),  # before the window
        (ONCE_DEPT, appt(at(2024, 3, 18)), slot(at(2024, 3, 11)), None),  # after the window
        (ONCE_DEPT, appt(at(2024, 3, 12), hospital="同仁"), slot(at(2024, 3, 15)), None),
        (ONCE_DEPT, appt(at(2024, 3, 12), department="外科"), slot(at(2024, 3, 15)), None),
        (
            ONCE_DEPT,
            appt(at(2024, 3, 12), status=AppointmentStatus.cancelled),
            slot(at(2024, 3, 15)),
            None,
        ),
        (ONCE_DOCTOR, appt(at(2024, 3, 12)), slot(at(2024, 3, 15)), "once_per_doctor"),
        (ONCE_DOCTOR, appt(at(2024, 3, 12), doctor="李医生"), slot(at(2024, 3, 15)), None),
        (ONCE_DOCTOR, appt(at(2024, 3, 12), doctor=""), slot(at(2024, 3, 15), doctor=""), None),
        (Policy(), appt(at(2024, 3, 12)), slot(at(2024, 3, 15)), None),
    ],
)
def test_once_in_window_variants(policy: Policy, existing: AppointmentFacts, new: SlotFacts, rule: str | None) -> None:
    decision = check_limits(policy, [existing], new, NOW)
    assert (decision.allowed, decision.rule, decision.retry_after) == (rule is None, rule, None)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        check_limits(POLICY, [], slot(at(2024, 3, 12)), datetime(2024, 3, 10))  # noqa: DTZ001
