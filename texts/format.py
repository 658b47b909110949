"""The one way money, days and times are written, in every channel (chat, SMS, pushes): pure, stdlib only.

``money(1250, lang)`` → ``¥12.50`` (``¥5`` for whole yuan); ``day`` → ``11月24日 周二`` / ``Tue 24 Nov``; ``visit`` (an appointment's day and
time) → ``11月24日 周二 08:00-12:00``; ``moment`` (a deadline) → ``11月23日 周一 15:00``. Times are local to the
hospital: callers convert with the hospital's zone first.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as clock_time

from texts.calendar import TEXTS


def _t(lang: str, key: str, **values: object) -> str:
    zh, en = TEXTS[key]
    return (en if lang == "en" else zh).format(**values)


def _calendar(lang: str, when: date) -> dict[str, object]:
    return {
        "month": _t(lang, "calendar.months").split(",")[when.month - 1],
        "d": when.day,
        "year": when.year,
        "weekday": _t(lang, "calendar.weekdays").split(",")[when.weekday()],
    }


def _as_date(when: date | str) -> date:
    return date.fromisoformat(when) if isinstance(when, str) else when


def money(cents: int, lang: str) -> str:
    """``1250`` → ``¥12.50``, ``500`` → ``¥5``: whole yuan bare (fees are mostly whole, and an SMS page of slots
    must stay within two segments), else two decimals — never ``12.5``."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return _t(lang, "calendar.money", amount=f"{sign}{whole}" + (f".{rest:02d}" if rest else ""))


def day(when: date | str, lang: str, *, weekday: bool = True, year: bool = False) -> str:
    """``11月24日 周二`` / ``Tue 24 Nov``; without the weekday ``11月24日`` / ``24 Nov``; with the year
    ``2027年2月25日`` / ``25 Feb 2027``."""
    key = ("calendar.long_day" if year else "calendar.day") + ("_with_weekday" if weekday else "")
    return _t(lang, key, **_calendar(lang, _as_date(when)))


def clock(when: datetime | clock_time | str, *, seconds: bool = False) -> str:
    """``08:00`` (``08:00:30`` with ``seconds``): a local time of day (``"08:00"`` as stored is kept)."""
    if isinstance(when, str):
        return when
    return f"{when:%H:%M:%S}" if seconds else f"{when:%H:%M}"


def moment(when: datetime, lang: str, *, year: bool = False) -> str:
    """A local date and time, e.g. a deadline: ``11月23日 周一 15:00`` / ``Mon 23 Nov 15:00`` (``year`` adds it)."""
    return _t(lang, "calendar.at", day=day(when.date(), lang, year=year), time=clock(when))


def visit(when: date | str, start: str, lang: str, end: str | None = None) -> str:
    """An appointment's day and time: ``11月24日 周二 08:00-12:00`` (``11月24日 周二 08:00`` without ``end``)."""
    time = _t(lang, "calendar.span", start=start, end=end) if end else start
    return _t(lang, "calendar.at", day=day(when, lang), time=time)
