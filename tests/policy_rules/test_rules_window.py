"""Booking window: tomorrow .. today+7, the last day opening at release_time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from rules import Decision, Policy, booking_window, build_policy, check_window, release_at

TZ = ZoneInfo("Asia/Shanghai")
BEIJING = build_policy()
CHANGSHU = build_policy("changshu")


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=TZ)


def test_release_at() -> None:
    assert release_at(BEIJING, date(2024, 3, 17)) == at(3, 10, 7, 30)
    assert release_at(
        build_policy(overrides={"release_time": "00:00", "booking_days_ahead": 14}), date(2024, 3, 17)
    ) == at(3, 3)


@pytest.mark.parametrize(
    ("policy", "now", "window"),
    [
        (BEIJING, at(3, 10, 7, 29, 59), (date(2024, 3, 11), date(2024, 3, 16))),
        (BEIJING, at(3, 10, 7, 30), (date(2024, 3, 11), date(2024, 3, 17))),
        (BEIJING, at(3, 10, 23, 59), (date(2024, 3, 11), date(2024, 3, 17))),
        (BEIJING, at(3, 10, 0, 0), (date(2024, 3, 11), date(2024, 3, 16))),
        (CHANGSHU, at(3, 10, 7, 29), (date(2024, 3, 10), date(2024, 3, 16))),
        (CHANGSHU, at(3, 10, 8), (date(2024, 3, 10), date(2024, 3, 17))),
        # 23:30 UTC on the 9th is 07:30 on the 10th in Shanghai.
        (BEIJING, datetime(2024, 3, 9, 23, 30, tzinfo=UTC), (date(2024, 3, 11), date(2024, 3, 17))),
        # same-day only: empty before release, today after it
        (Policy(booking_days_ahead=0, same_day=True), at(3, 10, 7), (date(2024, 3, 10), date(2024, 3, 9))),
        (Policy(booking_days_ahead=0, same_day=True), at(3, 10, 9), (date(2024, 3, 10), date(2024, 3, 10))),
    ],
)
def test_booking_window(policy: Policy, now: datetime, window: tuple[date, date]) -> None:
    assert booking_window(policy, now) == window


@pytest.mark.parametrize(
    ("policy", "visit", "now", "decision"),
    [
        (BEIJING, date(2024, 3, 11), at(3, 10, 7), Decision.ok()),
        (BEIJING, date(2024, 3, 16), at(3, 10, 7), Decision.ok()),
        (
            BEIJING,
            date(2024, 3, 17),
            at(3, 10, 7, 29, 59),
            Decision(False, "window_too_early", at(3, 10, 7, 30), "bookable from 2024-03-10T07:30:00+08:00"),
        ),
        (BEIJING, date(2024, 3, 17), at(3, 10, 7, 30), Decision.ok()),
        (
            BEIJING,
            date(2024, 3, 18),
            at(3, 10, 12),
            Decision(False, "window_too_far", at(3, 11, 7, 30), "bookable from 2024-03-11T07:30:00+08:00"),
        ),
        (
            BEIJING,
            date(2024, 3, 10),
            at(3, 10, 6),
            Decision(False, "window_past", None, "first bookable date is 2024-03-11"),
        ),
        (
            BEIJING,
            date(2024, 3, 1),
            at(3, 10, 6),
            Decision(False, "window_past", None, "first bookable date is 2024-03-11"),
        ),
        (CHANGSHU, date(2024, 3, 10), at(3, 10, 6), Decision.ok()),
        (
            CHANGSHU,
            date(2024, 3, 9),
            at(3, 10, 6),
            Decision(False, "window_past", None, "first bookable date is 2024-03-10"),
        ),
    ],
)
def test_check_window(policy: Policy, visit: date, now: datetime, decision: Decision) -> None:
    assert check_window(policy, visit, now) == decision


def test_check_window_agrees_with_booking_window() -> None:
    for hour in range(24):
        now = at(3, 10, hour, 30)
        first, last = booking_window(BEIJING, now)
        for offset in range(-2, 12):
            visit = date(2024, 3, 8 + offset)
            assert check_window(BEIJING, visit, now).allowed == (first <= visit <= last)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        booking_window(BEIJING, datetime(2024, 3, 10, 8))  # noqa: DTZ001
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        check_window(BEIJING, date(2024, 3, 11), datetime(2024, 3, 10, 8))  # noqa: DTZ001
