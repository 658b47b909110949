"""The approved templates of the mainland SMS providers (SPEC §9): which template each message kind goes out as, and
its variables, filled from the structured notice (``OutboundMessage.facts``) — never from the notice's free text.

The words of every template are in ``texts/sms_templates.py`` (in Aliyun's ``${name}`` notation); Tencent Cloud's
``{1}``, ``{2}``… form and the variables' order are derived from them here, so the two can never disagree.

Limits (what each provider accepts per variable):

* Aliyun: at most 35 characters per variable (its variable rules for notification templates); a code 4–6 digits.
* Tencent Cloud: at most 12 characters per variable for an account verified as a person
  (``InvalidParameterValue.TemplateParameterLengthLimit``; an enterprise account has no per-variable limit, only
  500 characters for the whole message); a verification code 0–6 digits (``TemplateParameterFormatError``).
  12 is used, so the same templates work under either kind of account.

A value longer than its limit is cut and ends with "…"; every value is passed through ``rules.mask_personal`` (an ID
or phone that slipped into a name would go masked), and the patient is only ever the masked name (``张*``).

An English conversation's messages go as the English template of their kind when ``[sms.templates_en]`` has one
(its words in the same catalog), with English names (else pinyin) and English dates; else as the Chinese one.

A reply to an inbound SMS (kind ``reply``) cannot be free text either: it goes out as ``reply_short``, whose one
variable is a digest of the reply — the whole reply when it fits the limit, else its last line that asks for an
answer (``回复 Y 确认取消…``), else its first line, cut — and whose fixed words point to ``帮助`` and the WeChat
account for the rest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import rules
from bot.config import TEMPLATE_KINDS
from bot.notifications.outbox import OutboundMessage
from texts import text

VARIABLE_LIMITS = {"aliyun": 35, "tencentcloud": 12}
"""Characters per template variable, by provider."""
CODE_DIGITS = {"aliyun": (4, 6), "tencentcloud": (0, 6)}
"""A verification code's length, by provider."""
ELLIPSIS = "…"
REPLY_KIND = "reply_short"
_VARIABLE = re.compile(r"\$\{([a-z_]+)\}")
_SPACES = re.compile(r"\s+")
_SPACE_BY_CJK = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef]) | (?=[\u3000-\u9fff\uff00-\uffef])")
_ASKS = ("回复", "请输入", "reply", "enter", "send")
_OPTION = re.compile(r"[0-9]+\. ")


class TemplateFactsError(ValueError):
    """A notice lacks a fact its template needs (the caller did not pass it in ``OutboundMessage.facts``)."""


@dataclass(frozen=True)
class Template:
    """One template: its kind, its words in Aliyun's notation, its variables in order of first appearance."""

    kind: str
    words: str
    variables: tuple[str, ...]

    @property
    def tencent_words(self) -> str:
        """The same words in Tencent Cloud's notation: ``{1}``, ``{2}``… by order of first appearance."""
        return _VARIABLE.sub(lambda m: "{" + str(self.variables.index(m.group(1)) + 1) + "}", self.words)


@dataclass(frozen=True)
class Rendered:
    """A message as a provider sends it: the template code and the variables (ordered as the template has them)."""

    kind: str
    code: str
    variables: dict[str, str]


@cache
def template(kind: str, lang: str = "zh") -> Template:
    """The template of ``kind`` (one of ``TEMPLATE_KINDS``)."""
    words = text(lang, f"sms_template.{kind}")
    return Template(kind, words, tuple(dict.fromkeys(_VARIABLE.findall(words))))


def template_kind(message: OutboundMessage) -> str:
    """The template kind of a message: its outbox kind, and ``reply_short`` for a reply."""
    kind = str(message.kind)
    return REPLY_KIND if kind == "reply" else kind


def render(
    message: OutboundMessage, codes: Mapping[str, str], provider: str, codes_en: Mapping[str, str] | None = None
) -> Rendered:
    """``message`` as template code + variables for ``provider``: the English template (``codes_en``) when the
    notice is in English (``facts["lang"]``) and one is filed for its kind, else the Chinese one.
    :class:`TemplateFactsError` when a fact is missing; ``KeyError`` for a kind without a template (check-config
    refuses that configuration, but for an optional kind, which the sender does not render)."""
    kind = template_kind(message)
    if kind not in TEMPLATE_KINDS:
        raise KeyError(kind)
    lang = "en" if message.facts.get("lang") == "en" and codes_en and kind in codes_en else "zh"
    chosen = template(kind, lang)
    limit = VARIABLE_LIMITS[provider]
    values = _values(kind, message, limit, lang)
    missing = [name for name in chosen.variables if not values.get(name)]
    if missing:
        raise TemplateFactsError(f"{kind}: no {', '.join(missing)} in the notice's facts")
    code = codes_en[kind] if lang == "en" and codes_en else codes[kind]
    return Rendered(kind, code, {name: fit(values[name], limit) for name in chosen.variables})


def fit(value: str, limit: int) -> str:
    """``value`` on one line, personal data masked, within ``limit`` characters (cut with "…")."""
    value = _compact(rules.mask_personal(value))
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def digest(paragraphs: Sequence[str], limit: int) -> str:
    """What of a reply fits one variable: its paragraphs other than a menu of numbered options, when they fit; else
    their last line asking for an answer (``回复 Y 确认取消…``, ``请输入…``); else their first line."""
    kept = [p for p in (p.strip() for ps in paragraphs for p in ps.split("\n\n")) if p and not _is_menu(p)]
    lines = [_compact(line) for paragraph in kept for line in paragraph.splitlines() if line.strip()]
    whole = "".join(lines) if lines else _compact(" ".join(paragraphs))
    if len(whole) <= limit or not lines:
        return whole
    asks = [line for line in lines if any(word in line.casefold() for word in _ASKS)]
    return asks[-1] if asks else lines[0]


def _is_menu(paragraph: str) -> bool:
    """A prompt followed by numbered options (``1. 预约挂号``…): the menu, which an SMS user reaches by ``帮助``."""
    options = paragraph.splitlines()[1:]
    return bool(options) and all(_OPTION.match(line.strip()) for line in options)


def _compact(value: str) -> str:
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    return _SPACE_BY_CJK.sub("", folded)


def _values(kind: str, message: OutboundMessage, limit: int, lang: str) -> dict[str, str]:
    if kind == REPLY_KIND:
        return {"reply": digest([message.text], limit)}
    facts = message.facts
    values = {name: facts[name] for name in _PLAIN if facts.get(name)}
    if facts.get("date"):
        day = date.fromisoformat(facts["date"])
        values["date"] = text(lang, "sms_value.date", month=day.month, day=day.day)
    if facts.get("start"):
        values["time"] = facts["start"] + (f"-{facts['end']}" if facts.get("end") else "")
    if facts.get("deadline"):
        moment = datetime.fromisoformat(facts["deadline"])
        values["deadline"] = text(lang, "sms_value.moment", month=moment.month, day=moment.day, clock=f"{moment:%H:%M}")
    if facts.get("refund_cents"):
        values["refund"] = text(lang, "sms_value.refund", yuan=_yuan(int(facts["refund_cents"])))
    if facts.get("result") in LOTTERY_RESULTS:
        values["result"] = text(lang, f"sms_value.{facts['result']}")
    return values


LOTTERY_RESULTS = ("booked", "not_drawn", "waitlist")
"""A lottery outcome's ``result`` fact: a place, none, or none with an invitation to the waitlist (reply 候补)."""
_PLAIN = (
    "code",
    "minutes",
    "patient",
    "serial",
    "hospital",
    "department",
    "doctor",
    "queue",
    "checkin",
    "contact",
    "count",
)


def _yuan(cents: int) -> str:
    return str(cents // 100) if cents % 100 == 0 else f"{cents / 100:.2f}"
