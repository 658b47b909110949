"""Reminder times."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import FeeClass, Policy, ReminderKind, SlotFacts, build_policy, reminder_times

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=TZ)


VISIT = SlotFacts("协和", "内科", "王医生", FeeClass.general, 500, at(3, 12, 9, 30), at(3, 12, 10))
ALL = {
    ReminderKind.window_end: at(3, 11, 13),
    ReminderKind.day_before: at(3, 11, 18),
    ReminderKind.before_start: at(3, 12, 7, 30),
}


@pytest.mark.parametrize(
    ("booked_at", "kinds"),
    [
        (at(3, 5, 8), list(ReminderKind)),
        (at(3, 11, 12, 59), list(ReminderKind)),
        (
            at(3, 11, 13),
            [ReminderKind.day_before, ReminderKind.before_start],
        ),  # "at or before booking" is left out
        (at(3, 11, 18), [ReminderKind.before_start]),
        (at(3, 12, 7, 30), []),
    ],
)
def test_reminders_due_after_booking(booked_at: datetime, kinds: list[ReminderKind]) -> None:
    assert reminder_times(build_policy(), VISIT, booked_at) == {kind: ALL[kind] for kind in kinds}


def test_reminders_follow_the_policy() -> None:
    policy = Policy(
        cancel_deadline="start",
        reminder_before_deadline_hours=3,
        reminder_day_before_time="20:30",
        reminder_before_start_hours=1,
    )
    assert reminder_times(policy, VISIT, at(3, 1)) == {
        ReminderKind.window_end: at(3, 12, 6, 30),
        ReminderKind.day_before: at(3, 11, 20, 30),
        ReminderKind.before_start: at(3, 12, 8, 30),
    }


def test_reminder_times_are_ordered_and_aware() -> None:
    times = list(reminder_times(build_policy(), VISIT, at(3, 1)).values())
    assert times == sorted(times)
    assert all(t.utcoffset() == timedelta(hours=8) for t in times)


def test_naive_booked_at_is_refused() -> None:
    with pytest.raises(ValueError, match="booked_at must be an aware datetime"):
        reminder_times(build_policy(), VISIT, datetime(2024, 3, 1))  # noqa: DTZ001
