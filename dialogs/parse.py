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
- Dates are read relative to ``today``, passed in (never a clock). A date without a year is its next occurrence on
  or after today (``1月5日`` typed in December is next January). A weekday (``周三``, ``wed``) is the next such day
  strictly after today, so on a Wednesday ``周三`` is a week away; ``下周三`` is the Wednesday of the next calendar
  week (weeks start on Monday). A parsed date is returned even if it is not among ``choices`` or is in the past:
  whether it can be booked is the caller's decision.
- Commands are whole messages only: ``菜单`` inside a sentence is not a command. ``取消``/``cancel``/``quit`` are
  deliberately neither *exit* nor *no*: the bot never teaches bare CANCEL/QUIT, which Twilio treats as opt-outs.

Pure and standard library only: no Redis, no clock.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

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


def normalize(text: str) -> str:
    """The comparable form of a message: half-width, single-spaced, lower-case ASCII, no surrounding punctuation."""
    return _fold(text).strip(_EDGE)


# --- numbers ---------------------------------------------------------------------------------------------------

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_NUMERAL = "[零〇一二两兩三四五六七八九十]{1,3}"
# nine digits at most: an int, never Python's 4,300-digit conversion limit
_NUMBER = re.compile(rf"第? ?([0-9]{{1,9}}|{_CN_NUMERAL}) ?(?:个|個|项|項)?")


def _cn_number(text: str) -> int | None:
    """A Chinese numeral from 0 to 99 (``三``, ``十二``, ``二十``, ``九十九``), or None."""
    if len(text) == 1 and text in _CN_DIGITS:
        return _CN_DIGITS[text]
    tens, ten, units = text.partition("十")
    if not ten or len(tens) > 1 or len(units) > 1:
        return None
    high = _CN_DIGITS.get(tens, 0) if tens else 1
    low = _CN_DIGITS.get(units, 0) if units else 0
    if high == 0 or (units and low == 0):
        return None
    return high * 10 + low


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
    words, targets = _WORD.findall(query), iter(_WORD.findall(name))
    return bool(words) and all(any(target.startswith(word) for target in targets) for word in words)


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
    "明天": 1, "明日": 1, "tomorrow": 1, "tmr": 1, "tmrw": 1,
    "后天": 2, "後天": 2, "day after tomorrow": 2, "the day after tomorrow": 2,
    "大后天": 3, "大後天": 3,
}  # fmt: skip
_CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_EN_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_N = f"[0-9]{{1,2}}|{_CN_NUMERAL}"
_WEEK = "(?:周|週|星期|礼拜|禮拜)([一二三四五六日天])"
_CN_WEEKDAY = re.compile(f"(下)?{_WEEK}")
_WITH_WEEKDAY = re.compile(rf"(.+?)\(?{_WEEK}\)?")  # "11月25日(周三)", as the bot lists dates
_YMD = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})")
_YMD_CN = re.compile(rf"([0-9]{{4}})年({_N})月({_N})[日号號]?")
_MD_CN = re.compile(rf"({_N})月({_N})[日号號]?")
_MD = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})")
_D_CN = re.compile(rf"({_N})[日号號]")
_MONTH_NAME = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = "(?:st|nd|rd|th)?"
_EN_MD = re.compile(rf"({_MONTH_NAME})\.? ?([0-9]{{1,2}}){_ORDINAL}(?:,? ?([0-9]{{4}}))?")
_EN_DM = re.compile(rf"([0-9]{{1,2}}){_ORDINAL} ?(?:of )?({_MONTH_NAME})\.?(?:,? ?([0-9]{{4}}))?")


def _make(year: int, month: int | None, day: int | None) -> date | None:
    """The date, or None when it does not exist (``2月30日``)."""
    if month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_occurrence(today: date, month: int | None, day: int | None) -> date | None:
    """Month and day in this year, or next year when that is before today (or does not exist this year)."""
    for year in (today.year, today.year + 1):
        found = _make(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def _next_day_of_month(today: date, day: int | None) -> date | None:
    """``25号``: the next 25th on or after today (three months always reach a month that has it)."""
    year, month = today.year, today.month
    for _ in range(3):
        found = _make(year, month, day)
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _weekday(today: date, weekday: int, next_week: bool) -> date:
    """The next such weekday strictly after today, or that day of the next calendar week."""
    if next_week:
        return today + timedelta(days=7 - today.weekday() + weekday)
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _absolute(compact: str, today: date) -> date | None:
    """Numeric and Chinese calendar forms, without spaces; a trailing weekday must agree with the date."""
    if found := _YMD.fullmatch(compact):
        return _make(int(found[1]), int(found[3]), int(found[4]))
    if found := _YMD_CN.fullmatch(compact):
        return _make(int(found[1]), _to_int(found[2]), _to_int(found[3]))
    if found := _MD_CN.fullmatch(compact):
        return _next_occurrence(today, _to_int(found[1]), _to_int(found[2]))
    if found := _MD.fullmatch(compact):
        return _next_occurrence(today, int(found[1]), int(found[2]))
    if found := _D_CN.fullmatch(compact):
        return _next_day_of_month(today, _to_int(found[1]))
    if (found := _WITH_WEEKDAY.fullmatch(compact)) and (day := _absolute(found[1], today)):
        return day if day.weekday() == _CN_WEEKDAYS[found[2]] else None
    return None


def _english(query: str, today: date) -> date | None:
    """``nov 25``, ``25th november``, ``november 25, 2026``."""
    if found := _EN_MD.fullmatch(query):
        month, day, year = _MONTHS[found[1]], int(found[2]), found[3]
    elif found := _EN_DM.fullmatch(query):
        month, day, year = _MONTHS[found[2]], int(found[1]), found[3]
    else:
        return None
    return _make(int(year), month, day) if year else _next_occurrence(today, month, day)


def parse_date(text: str, today: date, choices: Sequence[date] | None = None) -> date | None:
    """A date from an option number, ``YYYY-MM-DD``, ``M月D日``, ``明天``, ``周三``, ``nov 25``..., or None."""
    query = normalize(text)
    if not query:
        return None
    if choices is not None and (number := parse_number(query)) is not None:
        return choices[number - 1] if 1 <= number <= len(choices) else None
    compact = query.replace(" ", "")
    for form in (query, compact):
        if form in _RELATIVE:
            return today + timedelta(days=_RELATIVE[form])
    if query in _EN_WEEKDAYS:
        return _weekday(today, _EN_WEEKDAYS[query], next_week=False)
    if found := _CN_WEEKDAY.fullmatch(compact):
        return _weekday(today, _CN_WEEKDAYS[found[2]], next_week=bool(found[1]))
    return _absolute(compact, today) or _english(query, today)


# --- yes/no and commands ---------------------------------------------------------------------------------------

_YES = frozenset({"1", "是", "是的", "对", "对的", "對", "好", "好的", "可以", "确认", "确定", "確認", "確定",
                  "y", "yes", "ok", "okay", "confirm"})  # fmt: skip
_NO = frozenset({"2", "否", "不", "不是", "不要", "不用", "不对", "不對", "n", "no", "nope"})


def parse_yes_no(text: str) -> bool | None:
    """True for yes (``1``/``是``/``确认``/``y``/``yes``), False for no (``2``/``否``/``n``/``no``), else None."""
    query = normalize(text)
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
