"""Understanding what a patient typed, in Chinese or English, over WeChat or SMS: numbers, options, yes/no.

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
- Dates are read by :mod:`dialogs.parse_dates`, on the same conventions.
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
    "parse_number",
    "parse_yes_no",
    "strip_symbols",
    "to_int",
    "CN_NUMERAL",
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
CN_NUMERAL = "[零〇一二两兩三四五六七八九十廿]{1,3}"
# nine digits at most: an int, never Python's 4,300-digit conversion limit
_NUMBER = re.compile(rf"第? ?([0-9]{{1,9}}|{CN_NUMERAL}) ?(?:个|個|项|項)?")


_STRICT = str.maketrans("两兩〇", "二二零")


def _cn_number(text: str) -> int | None:
    """A Chinese numeral (``三``, ``十二``, ``两``, ``廿五``), or None; cn2an knows the forms (0.03 ms a call)."""
    try:
        value = cn2an.cn2an(text.translate(_STRICT), "strict")  # strict: 二二 is no number
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def to_int(token: str) -> int | None:
    """ASCII digits or a Chinese numeral as an int."""
    return int(token) if token.isascii() and token.isdigit() else _cn_number(token)


def parse_number(text: str) -> int | None:
    """A whole-message number: ``3``, ``３``, `` 3。``, ``第3个``, ``三``, ``十二``; None for anything else."""
    found = _NUMBER.fullmatch(normalize(text))
    return to_int(found[1]) if found else None


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
