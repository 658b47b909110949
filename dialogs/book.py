"""预约挂号: patient → hospital → department → date → slot → confirmation → book (SPEC §5, RULES §2–§5).

Only what is not known is asked: the patient when the account manages several (the choice becomes the active one),
the hospital when several are configured. Departments and dates offered are those with slots not yet started in
the booking window; full dates and slots are shown as such and refused when chosen. A refusal of the booking
service names its rule, says until when it applies and what to do next; the user is then taken back to the step
that can fix it (another slot, another date) or to the menu. The session keeps only ids and ISO dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import rules
from bot.booking import BookingRefused
from bot.records import Appointment, Slot, local_moment
from dialogs import intents, parse
from dialogs.machine import Dialog, Flow
from dialogs.message import Channel
from texts import CATALOG


class State(StrEnum):
    patient = "patient"
    hospital = "hospital"
    department = "department"
    date = "date"
    slot = "slot"
    confirm = "confirm"


# What a refusal leaves the user to do: choose another slot, another date, answer Y again, or nothing here.
RESLOT = frozenset({"slot_full", "slot_closed", "slot_started", "no_slot", "once_per_doctor"})
REDATE = frozenset({"window_past", "window_too_far", "window_too_early", "limit_same_day_department", "limit_same_day"})
RETRY = frozenset({"busy"})
LIMITS = frozenset({"limit_same_day_department", "limit_same_day", "limit_7_days", "limit_3_months"})
"""Rule codes that are also the name of the policy number they enforce."""
NO_WORDS = frozenset({"取消", "不约了"})
"""Also "no" at the confirmation, which offers "N 取消" (English ``cancel`` is never taught: Twilio opt-out)."""


def fee_text(cents: int) -> str:
    """Yuan without trailing zeros: 500 -> "5", 1250 -> "12.5"."""
    yuan, rest = divmod(cents, 100)
    return str(yuan) if rest == 0 else f"{yuan}.{rest:02d}".rstrip("0")


class BookFlow(Flow):
    """Questions, guards and actions of the booking dialog."""

    # --- what is known so far --------------------------------------------------------------------------
    @property
    def hospital(self) -> str:
        return str(self.turn.data["hospital"])

    @property
    def department(self) -> str:
        return str(self.turn.data["department"])

    @property
    def policy(self) -> rules.Policy:
        """The chosen hospital's policy; the platform's until a hospital is chosen."""
        if "hospital" in self.turn.data:
            return self.turn.deps.store.policy_for(self.hospital)
        return self.turn.deps.config.policy

    def hospital_name(self) -> str:
        found = self.turn.deps.schedule.hospital(self.hospital)
        return found.name if found else self.hospital

    def department_name(self, department: str | None = None) -> str:
        wanted = department or self.department
        found = self.turn.deps.schedule.department(self.hospital, wanted)
        return found.name if found else wanted

    def patient_name(self) -> str:
        found = self.turn.deps.patients.get(str(self.turn.data["pid"]))
        return found.name_masked if found else ""

    # --- formatting ------------------------------------------------------------------------------------
    @property
    def sms(self) -> str:
        """Suffix of the compact variant of a text: four slots per SMS page must fit two segments."""
        return "_sms" if self.turn.channel == Channel.sms else ""

    def _calendar(self, day: date) -> dict[str, Any]:
        return {
            "month": self.turn.t("book.months").split(",")[day.month - 1],
            "d": day.day,
            "year": day.year,
            "weekday": self.turn.t("book.weekdays").split(",")[day.weekday()],
        }

    def day(self, day: date) -> str:
        """``11月24日`` / ``24 Nov``."""
        return self.turn.t("book.day", **self._calendar(day))

    def day_with_weekday(self, day: date) -> str:
        """``11月24日 周二`` / ``Tue 24 Nov``."""
        return self.turn.t("book.day_with_weekday", **self._calendar(day))

    def long_day(self, day: date) -> str:
        """``2027年2月25日`` / ``25 Feb 2027``."""
        return self.turn.t("book.long_day", **self._calendar(day))

    def moment(self, when: datetime) -> str:
        """``11月23日15:00`` / ``15:00 on 23 Nov`` in the hospital's time (with the year when not this one)."""
        local = when.astimezone(self.policy.tz)
        key = "book.moment" if local.year == self.turn.today().year else "book.moment_with_year"
        return self.turn.t(key, time=local.strftime("%H:%M"), **self._calendar(local.date()))

    def level(self, slot: Slot | Appointment) -> str:
        return self.turn.t(f"book.level_{slot.level.value}")

    def slot_label(self, slot: Slot) -> str:
        places = self.turn.t("book.places_left", n=slot.places_left) if slot.places_left else self.turn.t("book.full")
        return self.turn.t(
            f"book.slot_label{self.sms}",
            doctor=slot.doctor_name or slot.doctor,
            start=slot.start,
            end=slot.end,
            level=self.level(slot),
            fee=fee_text(slot.fee_cents),
            places=places,
        )

    def deadline_line(self, facts: rules.SlotFacts, *, only_if_passed: bool = False) -> str | None:
        """When free cancellation ends, or that it has ended and what cancelling now means."""
        deadline = rules.cancel_deadline(self.policy, facts)
        shown = self.moment(deadline)
        if self.turn.now < deadline:
            return None if only_if_passed else self.turn.t("book.cancel_until", deadline=shown)
        if self.policy.late_cancel == "allow_with_violation" and self.turn.now < facts.start:
            return self.turn.t("book.cancel_with_violation", deadline=shown)
        return self.turn.t("book.cancel_closed", deadline=shown)

    # --- reads -----------------------------------------------------------------------------------------
    def window_dates(self, hospital: str, department: str | None = None) -> list[date]:
        """Dates with slots of the hospital (or department) inside the booking window now."""
        first, last = rules.booking_window(self.turn.deps.store.policy_for(hospital), self.turn.now)
        days = (date.fromisoformat(d) for d in self.turn.deps.schedule.dates(hospital, department))
        return [d for d in days if first <= d <= last]

    def open_slots(self, day: date) -> list[Slot]:
        """The department's slots on ``day`` that have not started yet."""
        tz = self.policy.tz
        slots = self.turn.deps.schedule.slots(self.hospital, self.department, day.isoformat())
        return [s for s in slots if local_moment(s.date, s.start, tz) > self.turn.now]

    def chosen_slot(self) -> Slot | None:
        return self.turn.deps.schedule.slot(str(self.turn.data["slot"]))

    # --- questions -------------------------------------------------------------------------------------
    @property
    def wish(self) -> dict[str, str]:
        """What a booking sentence named and is not used yet (date, period, level, words)."""
        found: dict[str, str] = self.turn.data.setdefault("wish", {})
        return found

    def ask_patient(self) -> None:
        turn = self.turn
        if "keep.wish" in turn.data:
            turn.data["wish"] = turn.data.pop("keep.wish")
        patients = turn.deps.patients.patients_of(turn.acct)
        if not patients:  # removed meanwhile: verify first, then come back here
            turn.say("verify.intro")
            turn.data["keep.after"] = "book"
            turn.switch("verify")
            return
        if len(patients) == 1:
            turn.data["pid"] = patients[0].pid
            self.fire("skip")
            return
        labels = [turn.t("book.patient_label", name=p.name_masked, tail=p.id_masked[-4:]) for p in patients]
        turn.offer(turn.t("book.ask_patient"), labels, [p.pid for p in patients])

    def ask_hospital(self) -> None:
        turn = self.turn
        standing = turn.deps.standing.standing(str(turn.data["pid"]))
        decision = rules.check_standing(standing, turn.now, turn.deps.config.policy.tz)
        if not decision.allowed:  # suspended or flagged: say so now rather than after five questions
            self.say_refusal(decision, standing=standing)
            turn.switch("menu")
            return
        hospitals = turn.deps.schedule.hospitals()
        if not hospitals:
            turn.say("book.nothing_to_book")
            turn.switch("menu")
            return
        if len(hospitals) == 1:
            turn.data["hospital"] = hospitals[0].id
            self.fire("skip")
            return
        turn.offer(turn.t("book.ask_hospital"), [h.name for h in hospitals], [h.id for h in hospitals])

    def ask_department(self) -> None:
        turn = self.turn
        configured = turn.deps.schedule.hospital(self.hospital)
        found: set[str] = set()
        for day in self.window_dates(self.hospital):
            found.update(turn.deps.schedule.departments_on(self.hospital, day.isoformat()))
        departments = [d for d in (configured.departments if configured else ()) if d.id in found]
        if not departments:
            turn.say("book.no_departments", hospital=self.hospital_name())
            if len(turn.deps.schedule.hospitals()) > 1:
                self.fire("back")
            else:
                turn.switch("menu")
            return
        if self.wished_department(departments):
            self.fire("skip")
            return
        title = turn.t("book.ask_department", hospital=self.hospital_name())
        turn.offer(title, [d.name for d in departments], [d.id for d in departments])

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

    def ask_date(self) -> None:
        turn = self.turn
        labels: list[str] = []
        values: list[str] = []
        for day in self.window_dates(self.hospital, self.department):
            slots = self.open_slots(day)
            if not slots:
                continue
            label = self.day_with_weekday(day)
            if not any(s.places_left for s in slots):
                label = turn.t("book.date_full_label", day=label)
            labels.append(label)
            values.append(day.isoformat())
        if not labels:
            turn.say("book.no_dates", department=self.department_name())
            turn.switch("menu")
            return
        wished = self.wish.pop("date", None)
        if wished and self.usable_day(date.fromisoformat(wished), [date.fromisoformat(v) for v in values]):
            turn.data["date"] = wished
            self.fire("skip")
            return
        turn.offer(turn.t("book.ask_date", department=self.department_name()), labels, values)

    def ask_slot(self) -> None:
        turn = self.turn
        day = date.fromisoformat(str(turn.data["date"]))
        slots = self.open_slots(day)
        if not slots:
            turn.say("book.no_slots", day=self.day(day), department=self.department_name())
            self.fire("back")
            return
        shown = self.day(day) if self.sms else self.day_with_weekday(day)
        title = turn.t(f"book.ask_slot{self.sms}", day=shown, department=self.department_name())
        wanted = [s for s in slots if self.wanted(s)]
        if not wanted:
            turn.say("book.no_slot_match", day=self.day(day))
        elif self.wish and len(wanted) == 1 and wanted[0].places_left > 0 and wanted[0].status == "open":
            turn.data["slot"] = wanted[0].id  # what was asked for fits one slot only: that one is confirmed next
            turn.data.pop("wish", None)
            self.fire("picked")
            return
        turn.offer(title, [self.slot_label(s) for s in wanted or slots], [s.id for s in wanted or slots])

    def wanted(self, slot: Slot) -> bool:
        """Whether a slot fits the time of day, level and doctor asked for (each only when asked)."""
        period, level, doctor = self.wish.get("period"), self.wish.get("level"), self.wish.get("doctor", "")
        return (
            (not period or (slot.start < "12:00") == (period == "am"))
            and (not level or slot.level.value == level)
            and (not doctor or self.is_doctor(slot, doctor))
        )

    def ask_confirm(self) -> None:
        turn = self.turn
        slot = self.chosen_slot()
        if slot is None:
            self.say_refusal(rules.Decision.refuse("no_slot"))
            self.fire("back")
            return
        summary = turn.t(
            "book.confirm",
            patient=self.patient_name(),
            day=self.day_with_weekday(date.fromisoformat(slot.date)),
            start=slot.start,
            end=slot.end,
            hospital=self.hospital_name(),
            department=self.department_name(),
            doctor=slot.doctor_name or slot.doctor,
            level=self.level(slot),
            fee=fee_text(slot.fee_cents),
        )
        warning = self.deadline_line(slot.facts(self.policy.tz), only_if_passed=True)
        lines = [summary, *([warning] if warning else []), turn.t("book.confirm_reply")]
        turn.paragraphs.append("\n".join(lines))
        turn.data.pop("options", None)  # "更多" has nothing to page here

    # --- guards (each explains why an answer cannot be used) -------------------------------------------
    def _pick(self) -> Any | None:
        """The value of the chosen option, or None after saying what was expected."""
        match: parse.Match[Any] = self.turn.chosen()
        if match.ok:
            return match.value
        if match.kind == parse.MatchKind.AMBIGUOUS:
            self.turn.say_ambiguous(match)
        else:
            self.say("common.not_an_option", text=self.turn.echo)
        return None

    def patient_chosen(self) -> bool:
        pid = self._pick()
        if pid is None:
            return False
        self.turn.deps.patients.set_active(self.turn.acct, str(pid))
        self.turn.data["pid"] = str(pid)
        return True

    def hospital_chosen(self) -> bool:
        hospital = self._pick()
        if hospital is None:
            return False
        self.turn.data["hospital"] = str(hospital)
        return True

    def department_chosen(self) -> bool:
        department = self._pick()
        if department is None:
            return False
        self.turn.data["department"] = str(department)
        return True

    def date_chosen(self) -> bool:
        turn = self.turn
        options = turn.data.get("options") or {"values": []}
        choices = [date.fromisoformat(v) for v in options["values"]]
        day = parse.parse_date(turn.text, turn.today(self.hospital), choices)
        wish = intents.wish_of(turn.text, turn.today(self.hospital))
        if day is None and wish.day and not wish.plain and (wish.period or wish.level):  # 明天下午, 周三 专家号
            day = wish.day
            self.keep_filters(wish)
        if day is None:  # a label typed back ("Tue 24 Nov"), or a part of one
            match: parse.Match[Any] = turn.chosen()
            if match.kind == parse.MatchKind.AMBIGUOUS:
                turn.say_ambiguous(match)
                return False
            if match.ok:
                day = date.fromisoformat(str(match.value))
        if day is None:
            self.say("book.date_unknown", text=turn.echo)
            return False
        if not self.usable_day(day, choices):
            return False
        turn.data["date"] = day.isoformat()
        return True

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
        if not any(s.places_left for s in slots):
            self.say("book.date_full", day=self.day(day), department=self.department_name())
            return False
        return True

    # --- the slot step also takes another day, a time of day, a level or a doctor ------------------------
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

    def slot_chosen(self) -> bool:
        slot_id = self._pick()
        if slot_id is None:
            return False
        slot = self.turn.deps.schedule.slot(str(slot_id))
        if slot is None:
            self.say_refusal(rules.Decision.refuse("no_slot"))
            return False
        if slot.status != "open":
            self.say_refusal(rules.Decision.refuse("slot_closed"))
            return False
        if slot.places_left <= 0:
            self.say("book.slot_full")
            return False
        self.turn.data["slot"] = slot.id
        return True

    def said_yes(self) -> bool:
        return parse.parse_yes_no(self.turn.text) is True

    def said_no(self) -> bool:
        return parse.parse_yes_no(self.turn.text) is False or self.turn.text in NO_WORDS

    # --- actions ---------------------------------------------------------------------------------------
    def ask_yes_no(self) -> None:
        self.say("common.yes_no", text=self.turn.echo)

    def decline(self) -> None:
        self.say("book.declined")
        self.turn.switch("menu")

    def book(self) -> None:
        turn = self.turn
        try:
            appointment = turn.deps.booking.book(
                str(turn.data["pid"]), turn.acct, turn.channel.value, str(turn.data["slot"])
            )
        except BookingRefused as refused:
            self.after_refusal(refused.decision)
            return
        # the confirmation is queued and the reminders scheduled, to this user on this channel (RULES §7)
        turn.deps.reminders.on_booked(appointment, turn.inbound.user, turn.channel.value)
        hospital = turn.deps.schedule.hospital(appointment.hospital)
        name = hospital.name if hospital else appointment.hospital
        place = (
            turn.t("book.place_with_address", hospital=name, address=hospital.address)
            if hospital and hospital.address
            else name
        )
        done = turn.t(
            "book.done",
            serial=appointment.serial,
            queue=appointment.queue_no,
            day=self.day_with_weekday(date.fromisoformat(appointment.date)),
            start=appointment.start,
            end=appointment.end,
            place=place,
            department=self.department_name(appointment.department),
            doctor=appointment.doctor_name or appointment.doctor,
            fee=fee_text(appointment.fee_cents),
        )
        deadline = self.deadline_line(appointment.slot_facts(self.policy.tz))
        turn.paragraphs.append("\n".join([done, *([deadline] if deadline else [])]))
        turn.switch("menu")

    def after_refusal(self, decision: rules.Decision) -> None:
        """Explain the refusal, then go where the user can do something about it."""
        self.say_refusal(decision)
        rule = decision.rule or "busy"
        if rule in RESLOT:
            self.fire("reslot")
        elif rule in REDATE:
            self.fire("redate")
        elif rule not in RETRY:
            self.turn.switch("menu")

    def say_refusal(
        self, decision: rules.Decision, *, day: date | None = None, standing: rules.Standing | None = None
    ) -> None:
        """Say which rule refused, until when, and what the user can do (numbers from the policy)."""
        turn = self.turn
        rule = decision.rule or "busy"
        key = f"book.refused_{rule}" if f"book.refused_{rule}" in CATALOG else "book.refused"
        values: dict[str, Any] = {"rule": rule, "days": self.policy.booking_days_ahead}
        if "pid" in turn.data:
            values["patient"] = self.patient_name()
        if "department" in turn.data:
            values["department"] = self.department_name()
        if day is None and "date" in turn.data:
            day = date.fromisoformat(str(turn.data["date"]))
        if day is not None:
            values["day"] = self.day(day)
        if decision.retry_after is not None:
            values["retry"] = values["opens"] = self.moment(decision.retry_after)
        if rule in LIMITS:
            values["n"] = getattr(self.policy, rule)
        if rule == "window_past":
            first, last = rules.booking_window(self.policy, turn.now)
            values.update(first=self.day(first), last=self.day(last))
        if rule == "window_too_far":
            values["release"] = self.policy.release_time
        if rule in ("suspended", "flagged"):
            standing = standing or turn.deps.standing.standing(str(turn.data["pid"]))
            if standing.suspended_until is not None:  # the last day suspended: booking works again the day after
                values["until"] = self.long_day(standing.suspended_until + timedelta(days=1))
        try:
            turn.say(key, **values)
        except KeyError:  # a value this refusal did not come with: still name the rule
            turn.say("book.refused", **values)


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "skip", "source": State.patient, "dest": State.hospital},
    {"trigger": "answer", "source": State.patient, "dest": State.hospital, "conditions": "patient_chosen"},
    {"trigger": "answer", "source": State.patient, "dest": None},
    {"trigger": "skip", "source": State.hospital, "dest": State.department},
    {"trigger": "answer", "source": State.hospital, "dest": State.department, "conditions": "hospital_chosen"},
    {"trigger": "answer", "source": State.hospital, "dest": None},
    {"trigger": "back", "source": State.department, "dest": State.hospital},
    {"trigger": "skip", "source": State.department, "dest": State.date},
    {"trigger": "answer", "source": State.department, "dest": State.date, "conditions": "department_chosen"},
    {"trigger": "answer", "source": State.department, "dest": None},
    {"trigger": "skip", "source": State.date, "dest": State.slot},
    {"trigger": "answer", "source": State.date, "dest": State.slot, "conditions": "date_chosen"},
    {"trigger": "answer", "source": State.date, "dest": None},
    {"trigger": "back", "source": State.slot, "dest": State.date},
    {"trigger": "reslot", "source": State.slot, "dest": State.slot},
    {"trigger": "picked", "source": State.slot, "dest": State.confirm},
    {"trigger": "answer", "source": State.slot, "dest": None, "conditions": "typed_date", "after": "change_day"},
    {"trigger": "answer", "source": State.slot, "dest": None, "conditions": "typed_filter", "after": "filter_slots"},
    {"trigger": "answer", "source": State.slot, "dest": State.confirm, "conditions": "slot_chosen"},
    {"trigger": "answer", "source": State.slot, "dest": None},
    {"trigger": "back", "source": State.confirm, "dest": State.slot},
    {"trigger": "reslot", "source": State.confirm, "dest": State.slot},
    {"trigger": "redate", "source": State.confirm, "dest": State.date},
    {"trigger": "answer", "source": State.confirm, "dest": None, "conditions": "said_yes", "after": "book"},
    {"trigger": "answer", "source": State.confirm, "dest": None, "conditions": "said_no", "after": "decline"},
    {"trigger": "answer", "source": State.confirm, "dest": None, "after": "ask_yes_no"},
]


class BookDialog(Dialog):
    """预约挂号."""

    name = "book"
    states = State
    transitions = TRANSITIONS
    flow = BookFlow
