"""Booking policy: every number of RULES.md as data, two presets, and validated overrides."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from functools import cached_property
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")
_LATE_CANCEL = ("refuse", "allow_with_violation")
_NO_SHOW_WINDOWS = ("calendar_year", "rolling_month")
RELEASE_MODES = ("first_come", "lottery")
MAX_BOOKING_DAYS_AHEAD = 365
"""A booking window of at most a year: the window's dates are listed and read every booking step, and a value past
the calendar's end (``date.max``) would make every booking step fail (OverflowError) although the config loaded."""
MAX_LOTTERY_WINDOW_SECONDS = 3600
HOURS_IN_A_YEAR = 24 * 365
"""The longest lead time a policy may give (refunds, reminders): past it a moment falls off the calendar."""


class PolicyError(ValueError):
    """A policy value (preset name or override) that cannot be used; `key` is the bare field name."""

    def __init__(self, key: str, expected: str, got: object) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        super().__init__(f"{key}: expected {expected}, got {_show(got)}")

    def __reduce__(self) -> tuple[type[PolicyError], tuple[str, str, object]]:
        return (PolicyError, (self.key, self.expected, self.got))


def _show(value: object) -> str:
    """Render a config value the way the user wrote it (JSON/TOML-like), falling back to repr."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _minutes(value: str, *, allow_24: bool = False) -> int | None:
    """Minutes after midnight of an "HH:MM" string, or None when it is not a valid time of day."""
    match = _HHMM.fullmatch(value)
    if match is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        return None
    return hours * 60 + minutes


def _clock(value: str) -> time:
    """Parse an already validated "HH:MM" (00:00..23:59)."""
    return time.fromisoformat(value)


@dataclass(frozen=True)
class Policy:
    """Every tunable of the booking rules; defaults are the beijing-114 platform (seed 000)."""

    timezone: str = "Asia/Shanghai"  # IANA zone of the hospitals; all "local" dates and times are here
    booking_days_ahead: int = 7  # visit dates tomorrow .. today+7
    same_day: bool = False  # also allow today (当日挂号)
    release_time: str = "07:30"  # a day's slots open at this time, booking_days_ahead days before
    max_patients_per_account: int = 5  # self + family/friends managed by one account
    limit_same_day_department: int = 1  # same visit date + hospital + department
    limit_same_day: int = 2  # same visit date, all hospitals
    limit_7_days: int = 3  # appointments MADE in the last 7 days (rolling, by booking time)
    limit_3_months: int = 5  # appointments MADE in the last 3 calendar months (rolling, by booking time)
    once_per_department_in_window: bool = False  # hospital variant: one per department in the window
    once_per_doctor_in_window: bool = False  # hospital variant: one per doctor in the window
    cancel_deadline: str = "15:00"  # "HH:MM" (00:00..24:00) on the day before the visit, or "start"
    late_cancel: str = "refuse"  # "refuse" | "allow_with_violation" (accepted, recorded as a violation)
    checkin_deadline_minutes: int = 0  # check-in must happen this many minutes before the slot start
    no_show_window: str = "calendar_year"  # "calendar_year" | "rolling_month" (N within one month)
    no_show_tiers: tuple[tuple[int, int], ...] = ((3, 3), (6, 6))  # (no-show count, months suspended)
    expert_full_refund_hours: int = 24  # expert fee refunded in full this long before the start
    expert_deduction_percent: int = 20  # deducted from an expert fee when cancelled later (10..30)
    special_full_refund_days: int = 7  # special-needs fee refunded in full this long before the start
    special_refund_percent: int = 50  # refunded of a special-needs fee when cancelled later
    reminder_before_deadline_hours: int = 2  # "cannot come? cancel before ..." this long before the deadline
    reminder_day_before_time: str = "18:00"  # day-before reminder time of day
    reminder_before_start_hours: int = 2  # last reminder this long before the slot start
    otp_length: int = 6  # digits of an SMS code
    otp_ttl_seconds: int = 300  # an SMS code is valid this long
    otp_max_attempts: int = 5  # wrong tries before a code is burnt
    otp_resend_seconds: int = 60  # at most one code per phone in this many seconds
    otp_max_per_hour: int = 5  # at most this many codes per phone per hour
    rate_limit_per_minute: int = 20  # inbound messages per account per minute
    release_mode: str = "first_come"  # "first_come" | "lottery": the release rush drawn at random (RULES §12)
    lottery_window_seconds: int = 60  # requests this long after a day's release time are drawn at its end
    waitlist_max_entries: int = 3  # slots one patient may wait for (候补) at once
    waitlist_hold_minutes: int = 15  # a freed place is held this long for the waiter offered it

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _CHECKS[field.name](field.name, getattr(self, field.name))
        if not self.same_day and self.booking_days_ahead < 1:
            raise PolicyError("booking_days_ahead", "at least 1 unless same_day", self.booking_days_ahead)

    @cached_property
    def tz(self) -> ZoneInfo:
        """The hospitals' time zone."""
        return ZoneInfo(self.timezone)

    @property
    def release_clock(self) -> time:
        """`release_time` as a time of day."""
        return _clock(self.release_time)

    @property
    def reminder_day_before_clock(self) -> time:
        """`reminder_day_before_time` as a time of day."""
        return _clock(self.reminder_day_before_time)

    @property
    def cancel_deadline_minutes(self) -> int | None:
        """Minutes after midnight of the day before the visit (0..1440), or None for "until the start"."""
        if self.cancel_deadline == "start":
            return None
        return _minutes(self.cancel_deadline, allow_24=True)


# --- validation table: one checker per field -------------------------------------------------------------

Check = Callable[[str, object], None]


def _integer(low: int, high: int | None = None) -> Check:
    """An int (never a bool) within [low, high]."""
    bounds = "a non-negative integer" if low == 0 else "a positive integer"
    expected = bounds if high is None else f"an integer from {low} to {high}"

    def check(key: str, value: object) -> None:
        if type(value) is not int:
            raise PolicyError(key, "an integer", value)
        if value < low or (high is not None and value > high):
            raise PolicyError(key, expected, value)

    return check


def _boolean(key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise PolicyError(key, "true or false", value)


def _one_of(*choices: str) -> Check:
    expected = "one of " + ", ".join(f'"{c}"' for c in choices)

    def check(key: str, value: object) -> None:
        if value not in choices:
            raise PolicyError(key, expected, value)

    return check


def _time_of_day(key: str, value: object) -> None:
    if not isinstance(value, str) or _minutes(value) is None:
        raise PolicyError(key, "HH:MM", value)


def _deadline(key: str, value: object) -> None:
    if value == "start":
        return
    if not isinstance(value, str) or _minutes(value, allow_24=True) is None:
        looks_like_time = isinstance(value, str) and ":" in value
        raise PolicyError(key, "HH:MM" if looks_like_time else 'HH:MM or "start"', value)


def _time_zone(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise PolicyError(key, "an IANA time zone", value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PolicyError(key, "an IANA time zone", value) from None


def _tiers(key: str, value: object) -> None:
    pairs = "a list of [count, months] pairs"
    if not isinstance(value, tuple):
        raise PolicyError(key, pairs, value)
    previous = 0
    for pair in value:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(type(n) is int for n in pair)):
            raise PolicyError(key, pairs, value)
        count, months = pair
        if count <= previous or months < 1:
            raise PolicyError(key, pairs + " with increasing counts and months >= 1", value)
        previous = count


_CHECKS: dict[str, Check] = {
    "timezone": _time_zone,
    "booking_days_ahead": _integer(0, MAX_BOOKING_DAYS_AHEAD),
    "same_day": _boolean,
    "release_time": _time_of_day,
    "max_patients_per_account": _integer(1),
    "limit_same_day_department": _integer(1),
    "limit_same_day": _integer(1),
    "limit_7_days": _integer(1),
    "limit_3_months": _integer(1),
    "once_per_department_in_window": _boolean,
    "once_per_doctor_in_window": _boolean,
    "cancel_deadline": _deadline,
    "late_cancel": _one_of(*_LATE_CANCEL),
    "checkin_deadline_minutes": _integer(0, 24 * 60),
    "no_show_window": _one_of(*_NO_SHOW_WINDOWS),
    "no_show_tiers": _tiers,
    "expert_full_refund_hours": _integer(0, HOURS_IN_A_YEAR),
    "expert_deduction_percent": _integer(10, 30),
    "special_full_refund_days": _integer(0, 365),
    "special_refund_percent": _integer(0, 100),
    "reminder_before_deadline_hours": _integer(0, HOURS_IN_A_YEAR),
    "reminder_day_before_time": _time_of_day,
    "reminder_before_start_hours": _integer(0, HOURS_IN_A_YEAR),
    "otp_length": _integer(4, 10),
    "otp_ttl_seconds": _integer(1, 24 * 3600),
    "otp_max_attempts": _integer(1),
    "otp_resend_seconds": _integer(0, 24 * 3600),
    "otp_max_per_hour": _integer(1),
    "rate_limit_per_minute": _integer(1),
    "release_mode": _one_of(*RELEASE_MODES),
    "lottery_window_seconds": _integer(1, MAX_LOTTERY_WINDOW_SECONDS),
    "waitlist_max_entries": _integer(0),
    "waitlist_hold_minutes": _integer(1, 7 * 24 * 60),
}

# --- presets and overrides ---------------------------------------------------------------------------

DEFAULT_PRESET = "beijing-114"

PRESETS: Mapping[str, Policy] = MappingProxyType(
    {
        # 北京市预约挂号统一平台 (seed 000): all defaults.
        "beijing-114": Policy(),
        # 常熟智慧健康 (seed 002): same-day registration, cancel until the visit time (after it: no cancel,
        # recorded as a no-show), 3 no-shows -> 3 months without booking.
        "changshu": Policy(same_day=True, cancel_deadline="start", no_show_tiers=((3, 3),)),
    }
)


def policy_keys() -> tuple[str, ...]:
    """The names that `build_policy` accepts as overrides (all Policy fields)."""
    return tuple(field.name for field in dataclasses.fields(Policy))


def _from_config(key: str, value: object) -> object:
    """Turn a TOML value into the field's Python shape (lists of lists become tuples of tuples)."""
    if key == "no_show_tiers" and isinstance(value, list | tuple):
        return tuple(tuple(pair) if isinstance(pair, list | tuple) else pair for pair in value)
    return value


def build_policy(
    preset: str = DEFAULT_PRESET,
    overrides: Mapping[str, object] | None = None,
    *,
    base: Policy | None = None,
) -> Policy:
    """Start from `base` (or the named preset), apply config overrides, and validate the result."""
    if base is None:
        if preset not in PRESETS:
            raise PolicyError("preset", "one of " + ", ".join(f'"{name}"' for name in PRESETS), preset)
        base = PRESETS[preset]
    known = set(policy_keys())
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise PolicyError(key, "a known policy key", value)
        changes[key] = _from_config(key, value)
    return dataclasses.replace(base, **changes)
