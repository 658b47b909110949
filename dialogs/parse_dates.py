"""Dates a patient types, in Chinese or English, read relative to a ``today`` passed in (never a clock).

On the conventions of :mod:`dialogs.parse` (the message normalized first; ``None``, never an exception, for what is
not a date). A month and day without a year is its next occurrence on or after today (``1月5日`` typed in December is
next January), unless it passed within 60 days: then it is that past day, which the dialog names as past (``11月25日``
on 2 December is not next year's). A weekday (``周三``, ``wed``) is the next such day strictly after today, so on a
Wednesday ``周三`` is a week away; ``下周三`` and ``next wed`` are the Wednesday of the next calendar week (weeks start
on Monday), ``这周三`` and ``this wed`` of this week. A parsed date is returned even if it is not among ``choices`` or
is in the past: whether it can be booked is the caller's decision. ``find_dates`` finds the dates inside a sentence.

Pure: no Redis, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from dialogs.parse import CN_NUMERAL, normalize, parse_number, strip_symbols, to_int

__all__ = ["Found", "find_dates", "parse_date"]

_RELATIVE = {
    "今天": 0, "今日": 0, "today": 0,
    "明天": 1, "明日": 1, "tomorrow": 1, "tmr": 1, "tmrw": 1, "tomorow": 1, "tommorow": 1, "tommorrow": 1,
    "后天": 2, "後天": 2, "day after tomorrow": 2, "the day after tomorrow": 2,
    "大后天": 3, "大後天": 3,
}  # fmt: skip
_CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_EN_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2, "wednesday": 2, "wendesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_NEXT_WEEK = {"下": 1, "下个": 1, "下個": 1, "next": 1, "这": 0, "這": 0, "本": 0, "这个": 0, "this": 0, "coming": None}


def _alternatives(words: object) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))  # type: ignore[call-overload]


_N = f"[0-9]{{1,2}}|{CN_NUMERAL}"
_NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER = r"(?<![0-9:.¥$])", r"(?![0-9:])"
_B = r"(?<![a-z])"  # an English word starts here
_E = r"(?![a-z])"  # and ends here
_MONTH = _alternatives(_MONTHS)
_ORDINAL = "(?:st|nd|rd|th)?"
_YEAR = "(?:,? ?([0-9]{4}))?"


class _Kind(StrEnum):
    """What a date expression names: a calendar day, or only a weekday (which may confirm a calendar day)."""

    DAY = "day"
    WEEKDAY = "weekday"


@dataclass(frozen=True)
class Found:
    """A date found in a message: where it was, and the date."""

    start: int
    end: int
    day: date | None
    kind: _Kind = _Kind.DAY


def _make(year: int, month: int | None, day: int | None) -> date | None:
    """The date, or None when it does not exist (``2月30日``)."""
    if month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


RECENT = timedelta(days=60)
"""A month and day without a year that passed less than this ago is that past day (said to be past), not next year's."""


def _nearest(today: date, month: int | None, day: int | None) -> date | None:
    """A month and day without a year: its next occurrence, unless it passed within ``RECENT``.

    ``11月25日`` typed on 2 December is last week's (so the dialog says it has passed), not next year's;
    ``1月5日`` typed in December is next January.
    """
    days = [d for year in (today.year - 1, today.year, today.year + 1) if (d := _make(year, month, day))]
    past = [d for d in days if today - RECENT <= d < today]
    if past:
        return past[-1]
    return next((d for d in days if d >= today), None)


def _next_day_of_month(today: date, day: int | None) -> date | None:
    """``25号``: the next 25th on or after today (three months always reach a month that has it)."""
    year, month = today.year, today.month
    for _ in range(3):
        found = _make(year, month, day)
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _weekday(today: date, weekday: int, week: int | None) -> date:
    """Weekday ``weekday``: of this calendar week (0), of the next (1), or the next one strictly after today."""
    if week is None:
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    return today + timedelta(days=7 * week - today.weekday() + weekday)


Reader = Callable[["re.Match[str]", date], date | None]
# Every form of date, in one table: a pattern (on the normalized message) and how it is read relative to today.
_FORMS: list[tuple[re.Pattern[str], Reader, _Kind]] = [
    (re.compile(rf"{_B}(?:{_alternatives(_RELATIVE)}){_E}"), lambda m, t: t + timedelta(days=_RELATIVE[m[0]]),
     _Kind.DAY),
    (re.compile(rf"{_NOT_DIGIT_BEFORE}([0-9]{{4}})([-/.])([0-9]{{1,2}})\2([0-9]{{1,2}}){_NOT_DIGIT_AFTER}"),
     lambda m, t: _make(int(m[1]), int(m[3]), int(m[4])), _Kind.DAY),
    (re.compile(rf"([0-9]{{4}}) ?年 ?({_N}) ?月 ?({_N}) ?[日号號]?"),
     lambda m, t: _make(int(m[1]), to_int(m[2]), to_int(m[3])), _Kind.DAY),
    (re.compile(rf"({_N}) ?月 ?({_N}) ?[日号號]?"), lambda m, t: _nearest(t, to_int(m[1]), to_int(m[2])),
     _Kind.DAY),
    (re.compile(rf"{_NOT_DIGIT_BEFORE}([0-9]{{1,2}})[-/.]([0-9]{{1,2}}){_NOT_DIGIT_AFTER}"),
     lambda m, t: _nearest(t, int(m[1]), int(m[2])), _Kind.DAY),
    (re.compile(rf"({_N}) ?[日号號]"), lambda m, t: _next_day_of_month(t, to_int(m[1])), _Kind.DAY),
    (re.compile(rf"{_B}({_MONTH})\.? ?([0-9]{{1,2}}){_ORDINAL}{_YEAR}{_E}"),
     lambda m, t: _en_day(t, _MONTHS[m[1]], int(m[2]), m[3]), _Kind.DAY),
    (re.compile(rf"{_B}([0-9]{{1,2}}){_ORDINAL} ?(?:of )?({_MONTH})\.?{_YEAR}{_E}"),
     lambda m, t: _en_day(t, _MONTHS[m[2]], int(m[1]), m[3]), _Kind.DAY),
    (re.compile(r"(下个|下個|这个|下|这|這|本)? ?(?:周|週|星期|礼拜|禮拜) ?([一二三四五六日天])"),
     lambda m, t: _weekday(t, _CN_WEEKDAYS[m[2]], _NEXT_WEEK[m[1]] if m[1] else None), _Kind.WEEKDAY),
    (re.compile(rf"{_B}(?:(next|this|coming) )?({_alternatives(_EN_WEEKDAYS)}){_E}"),
     lambda m, t: _weekday(t, _EN_WEEKDAYS[m[2]], _NEXT_WEEK[m[1]] if m[1] else None), _Kind.WEEKDAY),
]  # fmt: skip


def _en_day(today: date, month: int, day: int, year: str | None) -> date | None:
    return _make(int(year), month, day) if year else _nearest(today, month, day)


def find_dates(text: str, today: date) -> list[Found]:
    """Every date expression in a message, left to right (the longest at each place), read relative to ``today``.

    A form that names no real day (``2月30日``) is found with ``day`` None: it is a date, just not a valid one.
    """
    query = normalize(text)
    found: list[Found] = []
    at = 0
    while at < len(query):
        best: Found | None = None
        for pattern, read, kind in _FORMS:
            match = pattern.match(query, at)
            if match and match.end() > at and (best is None or match.end() > best.end):
                best = Found(at, match.end(), read(match, today), kind)
        if best is None:
            at += 1
        else:
            found.append(best)
            at = best.end
    return found


_FILLER = re.compile(r"(?:[\s()()、,.!~的吧啊呀呢哦]|please|pls)*")  # what may stand around a date


def parse_date(text: str, today: date, choices: Sequence[date] | None = None) -> date | None:
    """A whole-message date: an option number, ``YYYY-MM-DD``, ``M月D日``, ``12/5``, ``明天``, ``下周三``, ``Dec 5``...

    A calendar day followed or preceded by its weekday (``11月25日 周三``, ``Wed 25 Nov``) must agree with it.
    """
    query = normalize(strip_symbols(text))
    if not query:
        return None
    if choices is not None and (number := parse_number(query)) is not None:
        return choices[number - 1] if 1 <= number <= len(choices) else None
    found = find_dates(query, today)
    rest = query
    for item in reversed(found):
        rest = rest[: item.start] + rest[item.end :]
    if not found or _FILLER.fullmatch(rest) is None or len(found) > 2:
        return None
    days = [f for f in found if f.kind == _Kind.DAY]
    if len(found) == 1:
        return found[0].day
    if len(days) == 1 and days[0].day is not None:
        weekday = next(f for f in found if f.kind == _Kind.WEEKDAY)
        return days[0].day if weekday.day is not None and weekday.day.weekday() == days[0].day.weekday() else None
    return None
