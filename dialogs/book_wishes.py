"""What a booking sentence asked for, used by the booking dialog: a department or doctor, a day, a time of day, a level.

A sentence typed at the menu (``明天上午心内科``, ``挂李娜下周三的专家号``) leaves a *wish* in the session; each
question takes what it can from it and asks only what is still unknown. At the date and slot questions another
department's name (``改挂神经内科``, ``明天神经内科``) is that department instead, once it sees the patient (RULES §9)
and has dates. At the slot step a date is a change of day (never an option number: ``12/5``), and a time of day, a
level or a doctor's name narrows the slots shown.
"""

from __future__ import annotations

from dataclasses import replace
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
        found = {d.id for d in departments for day in self.window_dates(self.hospital, d.id)
                 for s in self.read_slots([day], self.hospital, d.id)[day] if self.is_doctor(s, plain)}  # fmt: skip
        if len(found) == 1:  # the doctor works in one department: that is the one
            self.turn.data["department"] = found.pop()
            return True
        return False

    # --- the hospital question takes a whole sentence too ---------------------------------------------------
    def typed_sentence_at_hospital(self) -> bool:
        """A sentence at the hospital question (``明天上午心内科``): it names a day, a time of day, a level, or a
        department or doctor of some hospital, rather than a hospital."""
        turn = self.turn
        if parse.parse_number(turn.text) is not None or turn.chosen().kind != parse.MatchKind.NONE:
            return False
        wish = intents.wish_of(turn.text, turn.today())
        return bool(wish.day or wish.bad_day or wish.period or wish.level or self.hospitals_named(wish))

    def hospitals_named(self, wish: intents.Wish) -> list[str]:
        """The hospitals having a department or a doctor that the sentence's words name."""
        typed = [w for w in (wish.words, wish.plain) if w and parse.parse_number(w) is None]
        found: list[str] = []
        for hospital in self.turn.deps.schedule.hospitals():
            options = [parse.Option(d.name, d.id, (d.name_en,) if d.name_en else ()) for d in hospital.departments]
            named = any(parse.match_option(w, options).kind != parse.MatchKind.NONE for w in typed)
            if named or (len(wish.plain) > 1 and self.doctor_of(hospital.id, wish.plain)):
                found.append(hospital.id)
        return found

    def doctor_of(self, hospital: str, typed: str) -> bool:
        schedule = self.turn.deps.schedule
        return any(
            self.is_doctor(slot, typed)
            for day in self.window_dates(hospital)
            for department in schedule.departments_on(hospital, day.isoformat())
            for slot in schedule.slots(hospital, department, day.isoformat())
        )

    def wished_hospitals(self) -> list[str]:
        """The hospitals the kept sentence's department or doctor belongs to (none when it named neither)."""
        words, plain = str(self.wish.get("words", "")), str(self.wish.get("plain", ""))
        return self.hospitals_named(intents.Wish(words=words, plain=plain)) if words or plain else []

    def take_sentence_at_patient(self) -> None:
        """A sentence before the patient is chosen: kept (used from the next question on), the patient asked."""
        turn = self.turn
        wish = intents.wish_of(turn.text, turn.today())
        turn.data["wish"] = wish.to_data()
        noted = (" " if turn.lang == "zh" else ", ").join(w for w in (self.wish_words(wish), wish.words) if w)
        self.prompt()
        turn.paragraphs.insert(len(turn.paragraphs) - 1, turn.t("book.wish_noted", wish=noted))

    def take_sentence_at_hospital(self) -> None:
        """Keep what the sentence names; the one hospital it points to is taken (then its department, day, slot),
        else the hospital is asked after saying what was noted."""
        turn = self.turn
        wish = intents.wish_of(turn.text, turn.today())
        turn.data["wish"] = wish.to_data()
        named = self.hospitals_named(wish)
        if len(named) == 1:
            turn.data["hospital"] = named[0]
            self.fire("skip")
            return
        noted = (" " if turn.lang == "zh" else ", ").join(w for w in (self.wish_words(wish), wish.words) if w)
        self.prompt()
        if noted and turn.paragraphs:
            turn.paragraphs.insert(len(turn.paragraphs) - 1, turn.t("book.wish_noted", wish=noted))

    # --- the department question also takes a whole sentence ---------------------------------------------
    def typed_sentence(self) -> bool:
        """A sentence at the department question (``明天上午心内科``, ``挂李娜下周三的专家号``, ``tomorrow morning
        cardiology``) rather than an option: it names a day, a time of day, a level or a doctor."""
        turn = self.turn
        if parse.parse_number(turn.text) is not None or turn.chosen().kind != parse.MatchKind.NONE:
            return False
        wish = intents.wish_of(turn.text, turn.today(self.hospital))
        return bool(wish.day or wish.bad_day or wish.period or wish.level) or self.names_doctor(wish.plain)

    def names_doctor(self, typed: str) -> bool:
        """Whether ``typed`` is (part of) the name of a doctor with a slot of this hospital in the booking window."""
        if len(typed) < 2:
            return False
        schedule = self.turn.deps.schedule
        return any(
            self.is_doctor(slot, typed)
            for day in self.window_dates(self.hospital)
            for department in schedule.departments_on(self.hospital, day.isoformat())
            for slot in schedule.slots(self.hospital, department, day.isoformat())
        )

    def take_sentence(self) -> None:
        """Keep what the sentence names and ask again: the department it named is taken (then the day, the slot)
        like a sentence typed at the menu; what it did not name is asked, after saying what was noted."""
        turn = self.turn
        wish = intents.wish_of(turn.text, turn.today(self.hospital))
        turn.data["wish"] = wish.to_data()
        before = turn.session.state
        self.prompt()
        if self.state.value == "department" and turn.session.state == before:
            turn.paragraphs.insert(len(turn.paragraphs) - 1, turn.t("book.wish_noted", wish=self.wish_words(wish)))

    def wish_words(self, wish: intents.Wish) -> str:
        """What a sentence named, in words: ``11月24日 上午 专家``, ``24 Nov, morning, expert``."""
        parts = [self.day(wish.day)] if wish.day else []
        parts += [self.turn.t(f"book.period_{wish.period}")] if wish.period else []
        parts += [self.turn.t(f"book.level_{wish.level}")] if wish.level else []
        doctor = str(self.wish.get("doctor", ""))
        parts += [doctor] if doctor and self.names_doctor(doctor) else []
        return (" " if self.turn.lang == "zh" else ", ").join(parts)

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

    # --- the date and slot questions also take another department --------------------------------------------
    def other_department(self) -> tuple[str, bool] | None:
        """The department of this hospital, other than the chosen one, that a sentence at the date or slot question
        names (``神经内科``, ``改挂神经内科``, ``明天神经内科``, ``switch to neurology``), if it names exactly one;
        with whether it has slots in the booking window (one without is named only when no bookable one is)."""
        turn = self.turn
        if parse.parse_number(turn.text) is not None or turn.chosen().kind != parse.MatchKind.NONE:
            return None
        wish = intents.switch_wish(turn.text, turn.today(self.hospital))
        typed = [w for w in (wish.words, wish.plain) if w and parse.parse_number(w) is None]
        if not typed:
            return None
        bookable = self.bookable_departments()
        configured = turn.deps.schedule.hospital(self.hospital)
        others = [d for d in (configured.departments if configured else ()) if d not in bookable]
        for departments, has_slots in ((bookable, True), (others, False)):
            options = [parse.Option(d.name, d.id, (d.name_en,) if d.name_en else ()) for d in departments]
            for words in typed:
                match = parse.match_option(words, options)
                if match.ok:
                    return None if match.value == self.department else (str(match.value), has_slots)
        return None

    def names_other_department(self) -> bool:
        """Whether a sentence at the date or slot question names another department (kept for
        :meth:`switch_department`)."""
        named = self.__dict__["_named_department"] = self.other_department()
        return named is not None

    def switch_department(self) -> None:
        """Take the department named instead, when it has dates (else say it has none) and sees this patient (RULES
        §9; else say why): its date is asked, or the day, time of day and level the sentence named are taken — at
        the slot question the day chosen is kept when the sentence names none and the department has slots then.
        A department not taken leaves the question asked open."""
        turn = self.turn
        current, (named, has_slots) = self.department, self.__dict__["_named_department"]
        if not has_slots:
            self.say("book.no_dates", department=self.department_name(named))
            self.prompt()
            return
        refusal = self.department_refusal(named)
        turn.data["department"] = named
        if not refusal.allowed:  # a child's department for an adult: said, and the question of the one chosen asked
            self.say_refusal(refusal)
            turn.data["department"] = current
            self.prompt()
            return
        wish = intents.switch_wish(turn.text, turn.today(self.hospital))
        kept = {k: v for k, v in wish.to_data().items() if k in ("date", "period", "level")}
        chosen = str(turn.data["date"]) if self.state.value == "slot" else None
        if chosen and "date" not in kept and self.open_slots(date.fromisoformat(chosen)):
            kept["date"] = chosen
        turn.data["wish"] = kept
        self.fire("redate")

    # --- the slot step also takes another day, a time of day, a level or a doctor ------------------------
    def day_with_filters(self) -> date | None:
        """A day with what else a sentence names at the date step (``明天下午``, ``周三 专家号``, ``明天上午心内科``,
        ``李娜明天``): the time of day, level and doctor are kept as filters; a name that is neither this department
        nor one of its doctors is not read here."""
        wish = intents.wish_of(self.turn.text, self.turn.today(self.hospital))
        if wish.day is None or not (wish.period or wish.level or wish.plain):
            return None
        if wish.plain and self.is_this_department(wish.plain):
            wish = replace(wish, words="", plain="")  # 心内科 at 心血管内科's date question: nothing more to filter
        elif wish.plain and not self.works_here(wish.plain):
            return None
        self.keep_filters(wish)
        return wish.day

    def is_this_department(self, typed: str) -> bool:
        found = self.turn.deps.schedule.department(self.hospital, self.department)
        if found is None or parse.parse_number(typed) is not None:
            return False
        return parse.match_option(
            typed, [parse.Option(found.name, found.id, (found.name_en,) if found.name_en else ())]
        ).ok

    def works_here(self, typed: str) -> bool:
        """Whether ``typed`` names a doctor with slots of this department in the booking window."""
        return len(typed) > 1 and any(
            self.is_doctor(slot, typed)
            for day in self.window_dates(self.hospital, self.department)
            for slot in self.read_slots([day])[day]  # read once for the step
        )

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
        elif self.usable_day(wish.day, choices) and not self.department_refuses_on(wish.day):
            turn.data["date"] = wish.day.isoformat()
            self.keep_filters(wish)
            self.fire("reslot")

    def window_days(self) -> list[str]:
        window = self.window_dates(self.hospital, self.department)
        self.read_slots(window)
        return [d.isoformat() for d in window if self.open_slots(d)]

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
