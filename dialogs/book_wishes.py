"""What a booking sentence asked for, used by the booking dialog: a department or doctor, a day, a time of day, a level.

A sentence typed at the menu (``明天上午心内科``, ``挂李娜下周三的专家号``) leaves a *wish* in the session; each
question takes what it can from it and asks only what is still unknown. At the slot step a date is a change of day
(never an option number: ``12/5``), and a time of day, a level or a doctor's name narrows the slots shown.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import rules
from bot.records import Slot
from dialogs import intents, parse
from dialogs.book_base import BookBase


class BookWishes(BookBase):
    """The booking flow's use of what a sentence named."""

    @property
    def wish(self) -> dict[str, str]:
        """What a booking sentence named and is not used yet (date, period, level, words)."""
        found: dict[str, str] = self.turn.data.setdefault("wish", {})
        return found

    def wished_department(self, departments: list[Any]) -> bool:
        """Take the department a sentence named; words that name none are kept as a doctor's name."""
        words, plain = self.wish.pop("words", ""), self.wish.pop("plain", "")
        options = [parse.Option(d.name, d.id, (d.name_en,) if d.name_en else ()) for d in departments]
        for typed in (words, plain):
            match = parse.match_option(typed, options) if typed and parse.parse_number(typed) is None else None
            if match is not None and match.ok:
                self.turn.data["department"] = str(match.value)
                return True
        if not plain:
            return False
        self.wish["doctor"] = plain
        schedule = self.turn.deps.schedule
        found = {d.id for d in departments for day in self.window_dates(self.hospital, d.id)
                 for s in schedule.slots(self.hospital, d.id, day.isoformat()) if self.is_doctor(s, plain)}  # fmt: skip
        if len(found) == 1:  # the doctor works in one department: that is the one
            self.turn.data["department"] = found.pop()
            return True
        return False

    @staticmethod
    def is_doctor(slot: Slot, typed: str) -> bool:
        """Whether a typed name is (part of) the slot's doctor's name, or the other way round."""
        names = [parse.normalize(n) for n in (slot.doctor_name, slot.doctor, slot.doctor_name_en) if n]
        return any(typed in n or n in typed for n in names)

    def wanted(self, slot: Slot) -> bool:
        """Whether a slot fits the time of day, level and doctor asked for (each only when asked)."""
        period, level, doctor = self.wish.get("period"), self.wish.get("level"), self.wish.get("doctor", "")
        return (
            (not period or (slot.start < "12:00") == (period == "am"))
            and (not level or slot.level.value == level)
            and (not doctor or self.is_doctor(slot, doctor))
        )

    def usable_day(self, day: date, choices: list[date]) -> bool:
        """Whether a day can be booked in this department; when not, say why (past, not released, no clinic, full)."""
        today = self.turn.today(self.hospital)
        if day < today:
            first, last = rules.booking_window(self.policy, self.turn.now)
            self.say("book.date_past", day=self.day(day), first=self.day(first), last=self.day(last))
            return False
        if day not in choices:
            decision = rules.check_window(self.policy, day, self.turn.now)
            if decision.allowed:
                self.say("book.date_no_clinic", day=self.day(day), department=self.department_name())
            else:
                self.say_refusal(decision, day=day)
            return False
        slots = self.open_slots(day)
        if not slots:
            self.say("book.no_slots", day=self.day(day), department=self.department_name())
            return False
        if not any(s.places_left for s in slots):  # all full: the slots are shown to choose one to wait for (候补)
            self.say("waitlist.day_full", day=self.day(day), department=self.department_name())
        return True

    # --- the slot step also takes another day, a time of day, a level or a doctor ------------------------
    def day_with_filters(self) -> date | None:
        """A day with a time of day or level at the date step (``明天下午``, ``周三 专家号``); the filters are kept."""
        wish = intents.wish_of(self.turn.text, self.turn.today(self.hospital))
        if wish.day is None or wish.plain or not (wish.period or wish.level):
            return None
        self.keep_filters(wish)
        return wish.day

    def typed_date(self) -> bool:
        """A date at the slot step (``12/5``, ``明天下午``) is a change of day, never an option number."""
        wish = intents.wish_of(self.turn.text, self.turn.today(self.hospital))
        return parse.parse_number(self.turn.text) is None and (wish.day is not None or wish.bad_day)

    def change_day(self) -> None:
        turn = self.turn
        wish = intents.wish_of(turn.text, turn.today(self.hospital))
        choices = [date.fromisoformat(d) for d in self.window_days()]
        if wish.day is None:
            self.say("book.date_unknown", text=turn.echo)
        elif self.usable_day(wish.day, choices):
            turn.data["date"] = wish.day.isoformat()
            self.keep_filters(wish)
            self.fire("reslot")

    def window_days(self) -> list[str]:
        return [d.isoformat() for d in self.window_dates(self.hospital, self.department) if self.open_slots(d)]

    def typed_filter(self) -> bool:
        """A time of day, a level or a doctor's name (``下午``, ``专家``, ``李娜 下午``) narrows the slots shown."""
        wish = intents.wish_of(self.turn.text, self.turn.today(self.hospital))
        if parse.parse_number(self.turn.text) is not None:
            return False
        day = date.fromisoformat(str(self.turn.data["date"]))
        named = bool(wish.plain) and any(self.is_doctor(s, wish.plain) for s in self.open_slots(day))
        return bool(wish.period or wish.level or named) and (not wish.plain or named)

    def filter_slots(self) -> None:
        """Show the slots that fit (one that alone fits is the choice, confirmed next)."""
        self.keep_filters(intents.wish_of(self.turn.text, self.turn.today(self.hospital)), add=True)
        self.fire("reslot")

    def keep_filters(self, wish: intents.Wish, *, add: bool = False) -> None:
        """Remember what the slot list is narrowed by: added to the filters so far, or instead of them."""
        kept = self.wish if add else {}
        kept.update({k: v for k, v in wish.to_data().items() if k in ("period", "level")})
        self.turn.data["wish"] = kept
        if wish.plain:
            self.wish["doctor"] = wish.plain
