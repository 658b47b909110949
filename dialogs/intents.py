"""What a patient wants, from ordinary phrasing in Chinese or English: an intent, and what a booking sentence names.

Two tables: ``INTENTS`` (a pattern per intent, tried in order: the more specific first, so ``取消预约`` is a
cancellation, not a booking) and the slot words (time of day, level). ``intent_of`` reads a whole message, with
polite filler around it (``我要挂号``, ``I'd like to book``); ``wish_of`` reads a booking sentence (``明天上午心内科``,
``挂李娜下周三的专家号``, ``tomorrow morning cardiology``) into what it names: a date, a time of day, a level, and the
words left (a department or a doctor, which only the dialog can tell apart). Pure: no Redis, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from dialogs import parse
from dialogs.parse import normalize, strip_symbols
from dialogs.parse_dates import find_dates

__all__ = [
    "LEVELS",
    "PERIODS",
    "STEP_ANSWERS",
    "Intent",
    "answers_step",
    "confirms_cancel",
    "errand_of",
    "errand_with_serial",
    "Wish",
    "booking_sentence",
    "declines_booking",
    "declines_move",
    "intent_at",
    "intent_of",
    "switch_wish",
    "wish_of",
]


class Intent(StrEnum):
    """What a message asks for, wherever it is typed."""

    RESCHEDULE = "reschedule"
    WAITLIST = "waitlist"
    CANCEL = "cancel"
    LIST = "list"
    HELP = "help"
    MENU = "menu"
    BOOK = "book"


_POLITE = (
    r"(?:(?:你好|您好|hi|hello|hey|请问|请|麻烦|麻烦你|帮我|帮忙|给我|我要|我想要|我想|我需要|想|要|能不能|可以|怎么|如何"
    r"|please|pls|plz|can i|could i|can you|could you|i want to|i wanna|i'd like to|i would like to|i need to|i want"
    r"|i need|let me|help me|how do i|how can i|how to)[ ,]?)*"
)
_END = r"(?:[ ,]?(?:吧|啊|呀|了|呢|吗|嗎|一下|下|谢谢|謝謝|please|pls|thanks|thank you|now|today))*"
# intent -> the ways it is said (regular expressions); tried in this order, the first that fits wins
INTENTS: list[tuple[Intent, tuple[str, ...]]] = [
    (Intent.RESCHEDULE, (
        "改约", "改預約", "改预约", "改期", "改个?时间", "换个?时间", "换个?日子", "换一天", "换号", "改挂",
        "reschedule", "re-schedule", "change (?:my |the )?(?:appointment|booking|date|time)",
        "move (?:my |the )?(?:appointment|booking)", "改一下时间", "改到(?:别的|其他)时间",
    )),
    (Intent.WAITLIST, (
        "(?:查看?|看看|看一下|查询)?我的候补", "候补", "候补(?:列表|记录|情况)", "wait", "查候补", "查看候补",
        "我在候补吗", "(?:退出|取消|不要|不想|不再|不)候补了?", "leave (?:the |my |a )?wait ?list", "stop waiting",
        "(?:show |see |view |check |list )?(?:my )?wait ?list(?: entries)?", "my waitlist",
    )),
    (Intent.CANCEL, (
        "取消(?:我的)?(?:预约|預約|挂号|掛號|号|這個預約|这个预约)", "我要取消", "我想取消", "帮我取消",
        "要取消", "想取消", "退号", "退掉", "退挂", "cancel (?:my |the |an |this )?(?:appointment|booking)s?",
        "cancel (?:it|one)",
        "call off",
    )),
    (Intent.LIST, (
        "(?:查看?|看看|看一下|查询|查詢|查一下)?我的(?:预约|預約|挂号|掛號|号)(?:记录)?", "查询", "查詢", "查预约",
        "查看预约", "查一下预约", "查挂号", "预约记录", "挂号记录", "我约了什么", "我约了哪天", "约了几号",
        "(?:show |see |view |check |list )?(?:all )?my (?:appointments?|bookings?)",
        "(?:show|see|view|check|list) (?:the )?(?:appointments?|bookings?)", "appointments", "bookings",
    )),
    (Intent.HELP, (
        "帮助", "幫助", "使用说明", "说明", "怎么用", "怎么办", "如何使用", "不会用", "看不懂", "教教我",
        "help", "help me", "instructions", "how (?:does this|do i use this|does it) work", "what can you do",
    )),
    (Intent.MENU, (
        "菜单", "菜單", "主菜单", "回主菜单", "返回主菜单", "回到菜单", "首页", "主页", "重新开始", "从头开始", "开始",
        "menu", "main menu", "home", "start", "start over", "restart", "back to menu", "go back",
    )),
    (Intent.BOOK, (
        "预约挂号", "預約掛號", "[挂掛][个個]?[号號]", "挂一个号", "挂一下号", "约个?号", "预约一?个?号?", "預約",
        "订号", "看病", "看医生", "看门诊", "挂个?专家号", "挂个?普通号", "make an? (?:appointment|booking)",
        "book(?:ing)?(?: an?| the)?(?: appointment| visit| slot)?", "new (?:appointment|booking)",
        "(?:an )?appointment", "see a doctor", "register",
    )),
]  # fmt: skip
_INTENT_PATTERNS = [(intent, re.compile(rf"{_POLITE}(?:{'|'.join(ways)}){_END}")) for intent, ways in INTENTS]


def _compact(text: str) -> str:
    """Normalized, emoji dropped, spaces kept only between Latin words (``我要 挂号`` = ``我要挂号``)."""
    query = normalize(strip_symbols(text))
    return normalize(re.sub(r" ?([^\x00-\x7f]) ?", r"\1", query))


_BOOKING_WORD = re.compile(r"挂|掛|预约|預約|(?<![a-z])(?:book|booking|appointment)(?![a-z])")


# what names another errand than a new booking anywhere in a sentence that also says 预约 / appointment (取消明天的预约,
# 预约查询, reschedule my appointment): that errand, never a booking of the words left (tried in this order)
_ERRANDS: list[tuple[Intent, re.Pattern[str]]] = [
    (Intent.RESCHEDULE, re.compile(
        r"改约|改期|改(?:一下|个)?(?:预约|預約|挂号|掛號|时间|日期|号)|换(?:个|一)?(?:时间|日子|日期)"
        r"|(?<![a-z])(?:reschedule|re-schedule|(?:move|change) my"
        r"|(?:move|change)(?: the)? (?:appointment|booking|time|date))(?![a-z])"
    )),
    (Intent.CANCEL, re.compile(r"取消|退号|退掉|退挂|(?<![a-z])cancel(?![a-z])")),
    (Intent.LIST, re.compile(
        # what the patient holds, not what is available (查询明天能不能预约, show me how to book: a booking)
        r"(?:查询|查詢|查看|查一下|查查)(?:一下)?(?:我的|我)?(?:预约|預約|挂号|掛號)|(?:预约|預約|挂号|掛號)(?:查询|查詢|记录|記錄)"
        r"|(?:预约|約|约|挂)了(?:什么|啥|哪|几)"
        r"|(?<![a-z])(?:what did i|what have i|when is my|(?:show|list|see|view)(?: me)? my)(?![a-z])"
    )),
]  # fmt: skip
_APPOINTMENT_WORD = re.compile(r"挂|掛|预约|預約|(?<![a-z])(?:book|bookings?|appointments?)(?![a-z])")
"""What names an appointment (one or several: ``show me my appointments``)."""
_SERIAL_AROUND = re.compile(r"#?(?<![0-9])([0-9]{8})(?![0-9])")


def errand_of(text: str) -> Intent | None:
    """The errand a sentence about an appointment names besides the booking word (``取消明天的预约`` → cancel,
    ``预约查询`` → list, ``reschedule my appointment`` → reschedule), or None (a booking sentence, or no appointment
    named at all)."""
    query = _compact(text)
    if not _APPOINTMENT_WORD.search(query):
        return None
    return next((intent for intent, pattern in _ERRANDS if pattern.search(query)), None)


def errand_with_serial(text: str) -> tuple[Intent, str] | None:
    """A cancellation or a move of the appointment whose serial the message names, in ordinary words around it
    (``取消预约 12345678``, ``我想改约 12345678``, ``cancel my appointment 12345678``): the intent and the serial."""
    query = _compact(text)
    serials = _SERIAL_AROUND.findall(query)
    if len(serials) != 1:
        return None
    rest = " ".join(_SERIAL_AROUND.sub(" ", query).split())
    intent = intent_of(rest) or errand_of(rest)
    if intent is None and rest:  # a bare verb of the errand: 取消 / 改约 / cancel / reschedule (+ polite words)
        intent = next((i for i, pattern in _ERRANDS[:2] if pattern.fullmatch(_BARE.sub("", rest))), None)
    return (intent, serials[0]) if intent in (Intent.CANCEL, Intent.RESCHEDULE) else None


_BARE = re.compile(rf"^{_POLITE}|{_END}$")


def booking_sentence(text: str, today: date) -> Wish | None:
    """A sentence that asks to book and names what (``挂李娜下周三的专家号``), or None."""
    if intent_of(text) not in (None, Intent.BOOK) or not _BOOKING_WORD.search(normalize(text)):
        return None
    if errand_of(text) is not None:  # 取消明天的预约: about an appointment, not a new one
        return None
    wish = wish_of(text, today)
    return wish if wish.names_something else None


def intent_of(text: str) -> Intent | None:
    """The intent a whole message states (``我要挂号``, ``挂个号``, ``I'd like to book``...), or None."""
    query = _compact(text)
    return next((intent for intent, pattern in _INTENT_PATTERNS if pattern.fullmatch(query)), None)


# --- where a step's own answer wins -----------------------------------------------------------------------------

# state -> the intents that are that step's own answer there, not a switch to another dialog (the step reads them):
# at a booking's "回复 Y 确认, N 取消", 取消预约 / cancel it / 不挂了 are its N and 挂号 asks again (never a new booking
# that drops the chosen slot); at the cancellation's "回复 Y 确认取消, N 保留", 取消预约 names neither answer: asked
# again, never guessed (a cancellation is not undone). 我的预约, 菜单, help still switch from everywhere.
STEP_ANSWERS: dict[str, frozenset[Intent]] = {
    "book.confirm": frozenset({Intent.CANCEL, Intent.BOOK}),
    "cancel.confirm": frozenset({Intent.CANCEL}),
    # "Y 确认改约, N 保留原预约": 取消预约 (the appointment, or the move?) and 改约 (yes, or start over?) asked again
    "reschedule.confirm": frozenset({Intent.CANCEL, Intent.RESCHEDULE}),
    "waitlist.joining": frozenset({Intent.WAITLIST}),  # 候补 there answers the question: join
}
# what also says "no" to a booking's confirmation, besides the yes/no words (parse.parse_yes_no)
_DECLINES = re.compile(
    rf"{_POLITE}(?:算了[ ,]?)?(?:取消|不约了?|不预约了?|不挂了?|不看了|不要了|不了|先不(?:约|挂|要)了?|以后再说|"
    rf"cancel(?: it| this| that)?|don't book(?: it)?|do not book|no thanks?|never ?mind){_END}"
)


# what also says "no" to a move's confirmation ("Y 确认改约, N 保留原预约": keep it as it is), besides the yes/no words
_KEEPS = re.compile(
    rf"{_POLITE}(?:那|还是|我)*(?:算了[ ,]?)?(?:我|还是)*"
    rf"(?:(?:不|别|不用|不要|不想|先不)(?:改|换)(?:约|期|号|时间|预约)?|取消改(?:约|期)|算了|保留原(?:来的)?预约|"
    rf"keep (?:it|the old one|my appointment|the appointment)|(?:don't|do not) (?:change|move|reschedule)(?: it)?|"
    rf"no thanks?|never ?mind)(?:[ ,]?算了)?{_END}"
)


def intent_at(state: str, text: str) -> Intent | None:
    """The intent a message states at the step ``state`` (``book.confirm``...): None where the step takes it as its
    own answer (:data:`STEP_ANSWERS`), so the step reads it rather than leaving for another dialog."""
    intent = intent_of(text)
    return None if intent in STEP_ANSWERS.get(state, frozenset()) else intent


def answers_step(state: str, text: str) -> bool:
    """Whether a message is the step's own answer at ``state`` whatever else it might read as: the N of a move's
    confirmation (``保留原预约`` names a booking, and keeps one), the cancellation's own yes typed back
    (``确认取消预约`` names a booking too)."""
    if state == "cancel.confirm":
        return _CONFIRMS_CANCEL.fullmatch(_compact(text)) is not None
    return state == "reschedule.confirm" and declines_move(text)


_CONFIRMS_CANCEL = re.compile(
    r"y?确认取消(?:预约)?#?([0-9]{8})?"
    r"|(?:(?:y|yes),? (?:to )?)?cancel (?:the )?appointment ?#?([0-9]{8})"
    r"|(?:y|yes),? (?:to )?cancel(?: it| (?:the |my )?appointment)?"
)
"""The yes the cancellation's question suggests, typed back: ``确认取消`` ("回复 Y 确认取消, N 保留"), ``确认取消预约
12345678`` (asked again: "回复 Y 确认取消预约12345678"), with or without its Y; in English, ``Y to cancel appointment
12345678`` ("reply Y to cancel appointment 12345678"), with or without its Y, or a bare ``cancel`` after a Y
(``yes, cancel it``; without the Y, ``cancel it`` reads both ways)."""


def confirms_cancel(text: str, serial: str) -> bool:
    """Whether a message says yes to cancelling the appointment ``serial`` in the question's own words; a serial
    typed with them must be that one."""
    found = _CONFIRMS_CANCEL.fullmatch(_compact(text))
    return found is not None and (found[1] or found[2]) in (None, serial)


def declines_booking(text: str) -> bool:
    """Whether a message at a booking's confirmation says "do not book" (``取消``, ``取消预约``, ``不约了``...)."""
    query = _compact(text)
    return parse.parse_yes_no(text) is False or bool(_DECLINES.fullmatch(query)) or intent_of(text) == Intent.CANCEL


def declines_move(text: str) -> bool:
    """Whether a message at a move's confirmation says "keep the appointment as it is" (``N``, ``不改了``, ``不换了``,
    ``算了``...)."""
    return parse.parse_yes_no(text) is False or bool(_KEEPS.fullmatch(_compact(text)))


# --- what a booking sentence names -----------------------------------------------------------------------------

PERIODS: dict[str, tuple[str, ...]] = {
    "am": ("上午", "早上", "早晨", "上半天", "morning", "am", "a.m."),
    "pm": ("下午", "下半天", "afternoon", "pm", "p.m."),
}
LEVELS: dict[str, tuple[str, ...]] = {
    "expert": ("专家号", "专家", "專家", "主任", "expert", "specialist"),
    "general": ("普通号", "普通", "普号", "general", "regular", "ordinary"),
    "special": ("特需号", "特需", "special", "vip"),
}
# words that only say "a booking" around what it names (the department or the doctor is what is left)
_NOISE = re.compile(
    r"预约挂号|挂号|掛號|预约|預約|挂|掛|约|号|號|的|个|一下|我要|我想|帮我|给我|请|麻烦|医生|大夫|门诊|看|吧|啊|呀|呢|哦|"
    r"(?<![a-z])(?:i want to|i'd like to|i would like|i want|i need|please|book|booking|an|a|the|for|with|on|at|in|"
    r"appointment|see|doctor|dr|clinic|department|visit|slot)(?![a-z])|[,.!~、。]"
)


def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternatives})(?![a-z])")


_PERIOD_PATTERNS = {name: _word_pattern(words) for name, words in PERIODS.items()}
_LEVEL_PATTERNS = {name: _word_pattern(words) for name, words in LEVELS.items()}


def _take(text: str, patterns: dict[str, re.Pattern[str]]) -> tuple[str | None, str]:
    """The first named word found and the text without it."""
    for name, pattern in patterns.items():
        if pattern.search(text):
            return name, pattern.sub(" ", text, count=1)
    return None, text


@dataclass(frozen=True)
class Wish:
    """What a booking sentence names; ``words`` is what is left: a department's or a doctor's name, or nothing.

    ``plain`` is ``words`` with the level word taken out too (``普通外科`` is a department, ``普通`` alone a level).
    """

    day: date | None = None
    bad_day: bool = False
    period: str | None = None
    level: str | None = None
    words: str = ""
    plain: str = ""

    @property
    def names_something(self) -> bool:
        return bool(self.day or self.bad_day or self.period or self.level or self.words)

    def to_data(self) -> dict[str, str]:
        """The wish as session data (ISO date, no empty values)."""
        values = {"date": self.day.isoformat() if self.day else "", "period": self.period or "",
                  "level": self.level or "", "words": self.words, "plain": self.plain}  # fmt: skip
        return {k: v for k, v in values.items() if v}


def _clean(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text).split())


def wish_of(text: str, today: date) -> Wish:
    """What a sentence asks to book: ``明天上午心内科`` → tomorrow, morning, words ``心内科``."""
    query = _compact(text)
    found = find_dates(query, today)
    rest = query
    for item in reversed(found):
        rest = rest[: item.start] + " " + rest[item.end :]
    period, rest = _take(rest, _PERIOD_PATTERNS)
    level, plain = _take(rest, _LEVEL_PATTERNS)
    day = found[0].day if found else None
    return Wish(day, bool(found) and day is None, period, level, _clean(rest), _clean(plain))


# what says "that department instead" at a booking's date question (改挂神经内科, 换成外科, switch to neurology)
_SWITCH = re.compile(r"改挂|换挂|改成|改为|换成|换到|改到|转到|转挂|(?<![a-z])(?:switch to|change to|instead)(?![a-z])")


def switch_wish(text: str, today: date) -> Wish:
    """What a sentence at the date question names, the words of switching left out: ``改挂神经内科 后天`` → the day
    after tomorrow, words ``神经内科``."""
    return wish_of(_SWITCH.sub(" ", _compact(text)), today)
