"""Calendar helpers shared by the rules: aware instants, local dates, calendar-month arithmetic."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TypeVar

D = TypeVar("D", bound=dt.date)


def require_aware(name: str, value: dt.datetime) -> None:
    """Refuse naive datetimes: every instant in the rules carries its time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def local_date(value: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The calendar date of an aware instant in the hospitals' time zone."""
    return value.astimezone(tz).date()


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """00:00 local time at the start of `day`."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def add_months(d: D, months: int) -> D:
    """`d` moved by whole calendar months, the day clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    return d.replace(year=year, month=month + 1, day=day)
