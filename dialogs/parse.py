"""Understanding what a patient typed, in Chinese or English, over WeChat or SMS: numbers, options, dates, yes/no.

Conventions (SPEC §5), shared by every dialog and channel:

- Every parser first calls ``normalize``: NFKC (full-width digits, letters, punctuation and spaces become half-width),
  zero-width characters dropped, whitespace collapsed to one space, surrounding punctuation and quotes stripped,
  ASCII letters lower-cased. Chinese is kept as typed.
- Parsers never raise on user input: they answer ``None`` (or ``MatchKind.NONE``) and the dialog asks again.
- Choices are shown as ``N. label``. A number 1..N (``3``, ``３``, ``3。``, ``第3个``, ``三``) selects by position
  before any label is considered; then an exact label or alias; then a partial one: Chinese input matches when its
  characters appear in order in the label (``心内`` → ``心血管内科``), Latin input when it is a substring (two
  characters or more) or its words prefix the label's words in order (``card surg`` → ``Cardiac Surgery``).
  Several partial matches are ambiguous; a number out of range matches nothing (never a fragment of a label).
- Dates are read relative to ``today``, passed in (never a clock). A month and day without a year is its next
  occurrence on or after today (``1月5日`` typed in December is next January), unless it passed within 60 days:
  then it is that past day, which the dialog names as past (``11月25日`` on 2 December is not next year's).
  A weekday (``周三``, ``wed``) is the next such day strictly after today, so on a Wednesday ``周三`` is a week
  away; ``下周三`` and ``next wed`` are the Wednesday of the next calendar week (weeks start on Monday), ``这周三``
  and ``this wed`` of this week. A parsed date is returned even if it is not among ``choices`` or is in the past:
  whether it can be booked is the caller's decision. ``find_dates`` finds the dates inside a sentence.
- Commands are whole messages only: ``菜单`` inside a sentence is not a command. ``取消``/``cancel``/``quit`` are
  deliberately neither *exit* nor *no*: the bot never teaches bare CANCEL/QUIT, which Twilio treats as opt-outs.

Pure and standard library only: no Redis, no clock.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

import cn2an

__all__ = [
    "Command",
    "Match",
    "MatchKind",
    "Option",
    "extract_digits",
    "match_option",
    "normalize",
    "parse_command",
    "parse_date",
    "parse_number",
    "parse_yes_no",
    "strip_symbols",
    "Found",
    "find_dates",
]

T = TypeVar("T")

# --- normalization ---------------------------------------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# after NFKC, ！？，；：～＂＇ are already ASCII; 。、 and curly or corner quotes are not
_EDGE = " .,!?;:~'\"`、。“”‘’「」『』"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _fold(text: str) -> str:
    """NFKC, zero-width characters dropped, whitespace collapsed, ASCII lower-cased; punctuation kept."""
    text = unicodedata.normalize("NFKC", text.translate(_ZERO_WIDTH))
    return " ".join(text.split()).translate(_ASCII_LOWER)


def strip_symbols(text: str) -> str:
    """The text without emoji and other pictographs (``🙏``, ``👍``): they carry no answer."""
    return "".join(char for char in text if unicodedata.category(char) not in ("So", "Sk", "Cs", "Co"))


def normalize(text: str) -> str:
    """The comparable form of a message: half-width, single-spaced, lower-case ASCII, no surrounding punctuation."""
    return _fold(text).strip(_EDGE)


# --- numbers ---------------------------------------------------------------------------------------------------

# the characters a Chinese numeral up to 99 is written with (廿 = 20, as calendars write it)
_CN_NUMERAL = "[零〇一二两兩三四五六七八九十廿]{1,3}"
# nine digits at most: an int, never Python's 4,300-digit conversion limit
_NUMBER = re.compile(rf"第? ?([0-9]{{1,9}}|{_CN_NUMERAL}) ?(?:个|個|项|項)?")


_STRICT = str.maketrans("两兩〇", "二二零")


def _cn_number(text: str) -> int | None:
    """A Chinese numeral (``三``, ``十二``, ``两``, ``廿五``), or None; cn2an knows the forms (0.03 ms a call)."""
    try:
        value = cn2an.cn2an(text.translate(_STRICT), "strict")  # strict: 二二 is no number
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def _to_int(token: str) -> int | None:
    """ASCII digits or a Chinese numeral as an int."""
    return int(token) if token.isascii() and token.isdigit() else _cn_number(token)


def parse_number(text: str) -> int | None:
    """A whole-message number: ``3``, ``３``, `` 3。``, ``第3个``, ``三``, ``十二``; None for anything else."""
    found = _NUMBER.fullmatch(normalize(text))
    return _to_int(found[1]) if found else None


def extract_digits(text: str) -> str:
    """Every decimal digit of a message as ASCII, in order (``１２３ ４５６`` → ``123456``), for SMS codes."""
    return "".join(str(unicodedata.decimal(char)) for char in unicodedata.normalize("NFKC", text) if char.isdecimal())


# --- options ---------------------------------------------------------------------------------------------------


class MatchKind(StrEnum):
    """How an answer matched a list of options."""

    EXACT = "exact"
    NUMBER = "number"
    PARTIAL = "partial"
    AMBIGUOUS = "ambiguous"
    NONE = "none"


@dataclass(frozen=True)
class Option(Generic[T]):
    """One choice shown as ``N. label``; aliases are other names it answers to (e.g. the English name)."""

    label: str
    value: T
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match(Generic[T]):
    """The result of matching: the chosen value, the options that matched (one, or several when ambiguous)."""

    value: T | None
    candidates: tuple[Option[T], ...]
    kind: MatchKind

    @property
    def ok(self) -> bool:
        """True when exactly one option was chosen (``value`` may legitimately be None then)."""
        return self.kind in (MatchKind.EXACT, MatchKind.NUMBER, MatchKind.PARTIAL)


_ECHO = re.compile(r"([0-9]{1,9}) ?[.、)]? ?(.+)")
_WORD = re.compile(r"\w+")


def _names(option: Option[T]) -> tuple[str, ...]:
    """The normalized label and aliases of an option."""
    return tuple(normalize(name) for name in (option.label, *option.aliases))


def _is_cjk(char: str) -> bool:
    """A CJK ideograph (unified, extension A/B.., compatibility)."""
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0003ffff"


def _partial(query: str, name: str) -> bool:
    """Whether a normalized answer is a fragment of a normalized name (rules in the module docstring)."""
    if any(_is_cjk(char) for char in query):
        rest = iter(name.replace(" ", ""))
        return all(char in rest for char in query.replace(" ", ""))  # a subsequence: consumes ``rest`` in order
    if len(query) > 1 and query in name:
        return True
    if len(_squeezed(query)) > 3 and _squeezed(query) in _squeezed(name):  # pinyin typed with or without breaks
        return True
    words, targets = _WORD.findall(query), iter(_WORD.findall(name))
    return bool(words) and all(any(target.startswith(word) for target in targets) for word in words)


def _squeezed(text: str) -> str:
    """Latin text without its word breaks: ``xiao'er neike`` → ``xiaoerneike`` (pinyin is typed either way)."""
    return text.replace(" ", "").replace("'", "")


def _result(kind: MatchKind, found: Sequence[Option[T]]) -> Match[T]:
    """One option found → that kind; several → ambiguous; none → none."""
    if len(found) == 1:
        return Match(found[0].value, (found[0],), kind)
    return Match(None, tuple(found), MatchKind.AMBIGUOUS if found else MatchKind.NONE)


def match_option(text: str, options: Sequence[Option[T]]) -> Match[T]:
    """Which option an answer picks: its number, then an exact label or alias, then a partial label."""
    query = normalize(text)
    if not query:
        return _result(MatchKind.NONE, ())
    number = parse_number(query)
    if number is not None and 1 <= number <= len(options):
        return _result(MatchKind.NUMBER, (options[number - 1],))
    exact = [option for option in options if query in _names(option)]
    if exact:
        return _result(MatchKind.EXACT, exact)
    if number is not None:
        return _result(MatchKind.NONE, ())
    echo = _ECHO.fullmatch(query)  # the whole shown line pasted back: "2. 神经内科"
    if echo and 1 <= int(echo[1]) <= len(options) and normalize(echo[2]) in _names(options[int(echo[1]) - 1]):
        return _result(MatchKind.NUMBER, (options[int(echo[1]) - 1],))
    return _result(MatchKind.PARTIAL, [option for option in options if any(_partial(query, n) for n in _names(option))])


# --- dates -----------------------------------------------------------------------------------------------------

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


_N = f"[0-9]{{1,2}}|{_CN_NUMERAL}"
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
     lambda m, t: _make(int(m[1]), _to_int(m[2]), _to_int(m[3])), _Kind.DAY),
    (re.compile(rf"({_N}) ?月 ?({_N}) ?[日号號]?"), lambda m, t: _nearest(t, _to_int(m[1]), _to_int(m[2])),
     _Kind.DAY),
    (re.compile(rf"{_NOT_DIGIT_BEFORE}([0-9]{{1,2}})[-/.]([0-9]{{1,2}}){_NOT_DIGIT_AFTER}"),
     lambda m, t: _nearest(t, int(m[1]), int(m[2])), _Kind.DAY),
    (re.compile(rf"({_N}) ?[日号號]"), lambda m, t: _next_day_of_month(t, _to_int(m[1])), _Kind.DAY),
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


# --- yes/no and commands ---------------------------------------------------------------------------------------

# Only words that mean yes or no: never an option number (``1`` at a yes/no prompt is asked again, not guessed).
_YES = frozenset({"y", "yes", "yep", "yeah", "ok", "okay", "confirm", "sure", "yes please", "是", "是的", "对",
                  "对的", "對", "好", "好的", "确认", "确定", "確認", "確定", "可以", "行", "嗯",
                  "y确认", "y是"})  # fmt: skip
_NO = frozenset({"n", "no", "nope", "not now", "否", "不", "不是", "不要", "不用", "不用了", "不对", "不對", "算了",
                 "保留", "keep", "keep it", "n保留", "n取消", "n否", "no thanks", "no thank you", "never mind",
                 "nevermind"})  # fmt: skip


def parse_yes_no(text: str) -> bool | None:
    """True for yes (``Y``/``是``/``确认``/``yes``), False for no (``N``/``否``/``不``/``no``), else None."""
    query = normalize(strip_symbols(text))  # 👍 says nothing more
    query = query.strip() if query.isascii() else query.replace(" ", "")
    if query in _YES:
        return True
    if query in _NO:
        return False
    return None


class Command(StrEnum):
    """Words understood at any step (SPEC §5)."""

    MENU = "menu"
    HELP = "help"
    EXIT = "exit"
    ENGLISH = "english"
    CHINESE = "chinese"
    MORE = "more"


_COMMANDS = {
    "菜单": Command.MENU, "菜單": Command.MENU, "主菜单": Command.MENU, "返回": Command.MENU,
    "menu": Command.MENU, "main menu": Command.MENU,
    "帮助": Command.HELP, "幫助": Command.HELP, "help": Command.HELP,
    "退出": Command.EXIT, "exit": Command.EXIT,
    "english": Command.ENGLISH, "英文": Command.ENGLISH, "英语": Command.ENGLISH,
    "中文": Command.CHINESE, "chinese": Command.CHINESE, "汉语": Command.CHINESE,
    "更多": Command.MORE, "more": Command.MORE,
}  # fmt: skip


def parse_command(text: str) -> Command | None:
    """The global command a whole message is (``菜单``, ``help``, ``?``, ``English``...), or None."""
    folded = _fold(text)
    if folded and set(folded) == {"?"}:  # normalize would strip a bare "?" to nothing
        return Command.HELP
    return _COMMANDS.get(normalize(folded))
