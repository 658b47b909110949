"""One message's worth of conversation: the input, the session, the services, and the replies being built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

import rules
from dialogs import parse
from dialogs.context import Deps
from dialogs.message import Channel, Inbound
from dialogs.session import Session
from texts import text

SMS_BUDGET = 134
"""Characters of one SMS reply: two UCS-2 segments (Chinese); a longer option list is paged ("回复 更多")."""

WECHAT_PAGE = 12
ECHO_CHARS = 20
"""At most this much of a message not understood is quoted back (masked before it is cut: no half number shows)."""


@dataclass
class Turn:
    """The state of one dialog step; dialogs read ``text`` and call ``say`` / ``offer`` / ``switch``."""

    deps: Deps
    inbound: Inbound
    acct: str
    session: Session
    now: datetime
    switcher: Callable[[Turn, str], None]
    paragraphs: list[str] = field(default_factory=list)
    offers_held: bool | None = None
    managed: list[str] | None = None
    """The account's patients as :func:`dialogs.menu.open_dialog` read them, for the dialog it opens at once (its
    first question need not read them again); None: not read, or no longer current."""
    """Whether the account held a waitlist offer when the step began (``dialog_begin.lua``); None: not known."""

    # --- input -----------------------------------------------------------------------------------------
    @cached_property
    def text(self) -> str:
        """What the user typed, normalised (full-width folded, spaces collapsed): once per step, however often read."""
        return parse.normalize(self.inbound.text)

    @property
    def raw_text(self) -> str:
        """What the user typed, only trimmed (names and ID numbers keep their characters)."""
        return self.inbound.text.strip()

    @property
    def echo(self) -> str:
        """What the user typed, to quote back: ID and phone numbers masked first, then cut to ``ECHO_CHARS``."""
        return rules.mask_personal(self.raw_text)[:ECHO_CHARS]

    @property
    def lang(self) -> str:
        """The conversation's language."""
        return self.session.language

    @property
    def data(self) -> dict[str, Any]:
        """The current step's remembered data (JSON-serialisable)."""
        return self.session.data

    @property
    def channel(self) -> Channel:
        """The channel of the conversation."""
        return self.inbound.channel

    def today(self, hospital: str | None = None) -> date:
        """Today in the hospital's time zone (the platform's when none is given)."""
        policy = self.deps.store.policy_for(hospital) if hospital else self.deps.config.policy
        return self.now.astimezone(policy.tz).date()

    # --- output ----------------------------------------------------------------------------------------
    def say(self, key: str, **values: Any) -> None:
        """Add the catalog text ``key`` to the reply."""
        self.paragraphs.append(text(self.lang, key, **values))

    def t(self, key: str, **values: Any) -> str:
        """The catalog text ``key`` in this conversation's language, to compose with."""
        return text(self.lang, key, **values)

    def offer(
        self, title: str, labels: Sequence[str], values: Sequence[Any], *, page: int = 0, aliases: Sequence[str] = ()
    ) -> None:
        """Ask to choose one of ``labels`` ("N. label" one per line); remembers them for :meth:`chosen`
        (``aliases``: another name each option answers to, e.g. the Chinese name under an English label)."""
        self.data["options"] = {"title": title, "labels": list(labels), "values": list(values)}
        if aliases:
            self.data["options"]["aliases"] = list(aliases)
        self.show_page(page)

    def show_page(self, page: int) -> bool:
        """Show one page of the remembered options; False when there is no such page."""
        options = self.data.get("options")
        if not options:
            return False
        labels: list[str] = options["labels"]
        pages = self._pages(options["title"], labels)
        if page >= len(pages):
            return False
        self.data["page"] = page
        start, end = pages[page]
        lines = [options["title"]] + [f"{i + 1}. {labels[i]}" for i in range(start, end)]
        if end < len(labels):
            lines.append(self.t("common.more"))
        self.paragraphs.append("\n".join(lines))
        return True

    def _pages(self, title: str, labels: list[str]) -> list[tuple[int, int]]:
        """(start, end) of each page: a fixed count on WeChat; over SMS as many options as fit in two segments."""
        if not labels:
            return [(0, 0)]
        if self.channel != Channel.sms:
            return [(i, min(i + WECHAT_PAGE, len(labels))) for i in range(0, len(labels), WECHAT_PAGE)]
        more = len(self.t("common.more")) + 1
        pages: list[tuple[int, int]] = []
        start = 0
        while start < len(labels):
            length, end = len(title), start
            while end < len(labels):
                line = len(f"{end + 1}. {labels[end]}") + 1
                reserve = more if end + 1 < len(labels) else 0
                if end > start and length + line + reserve > SMS_BUDGET:
                    break
                length, end = length + line, end + 1
            pages.append((start, end))
            start = end
        return pages

    def chosen(self) -> parse.Match[Any]:
        """Match the input against the remembered options (number, label, or part of a label)."""
        options = self.data.get("options") or {"labels": [], "values": []}
        aliases = options.get("aliases") or [""] * len(options["labels"])
        choices = [
            parse.Option(label, value, (alias,) if alias else ())
            for label, value, alias in zip(options["labels"], options["values"], aliases, strict=True)
        ]
        return parse.match_option(self.text, choices)

    def say_ambiguous(self, match: parse.Match[Any]) -> None:
        """Say that the input fits several options, listing them."""
        self.say("common.ambiguous", candidates="、".join(c.label for c in match.candidates))

    # --- flow ------------------------------------------------------------------------------------------
    def switch(self, dialog: str) -> None:
        """Leave the current conversation for the start of ``dialog`` (e.g. ``menu``)."""
        self.session.data = {k: v for k, v in self.data.items() if k.startswith("keep.")}
        self.switcher(self, dialog)

    # --- personal data held between steps (encrypted: sessions live in Redis) ----------------------------
    def keep_secret(self, name: str, value: str) -> None:
        """Remember a piece of personal data until the step ends, encrypted."""
        self.data[f"secret.{name}"] = self.deps.box.encrypt(value, context=f"session.{name}")

    def secret(self, name: str) -> str:
        """A piece of personal data remembered with :meth:`keep_secret`."""
        return self.deps.box.decrypt(self.data[f"secret.{name}"], context=f"session.{name}")
