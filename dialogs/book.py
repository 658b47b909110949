"""预约挂号: patient → hospital → department → date → slot → confirmation → book (SPEC §5, RULES §2–§5).

Only what is not known is asked: the patient when the account manages several (the choice becomes the active one),
the hospital when several are configured. Departments and dates offered are those with slots not yet started in
the booking window; full dates and slots are shown as such and refused when chosen. A refusal of the booking
service names its rule, says until when it applies and what to do next; the user is then taken back to the step
that can fix it (another slot, another date) or to the menu. The session keeps only ids and ISO dates.
What a booking sentence named is taken first (``dialogs.book_wishes``); reads, formats and refusals are in
``dialogs.book_base``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from enum import StrEnum
from typing import Any

import rules
from bot.booking import BookingRefused
from bot.names import name_in
from bot.settle import OutcomeUnconfirmed
from dialogs import intents, parse
from dialogs.book_lottery import BookLottery
from dialogs.book_wishes import BookWishes
from dialogs.confirm import YesNoFlow, yes_no
from dialogs.machine import Dialog, stays
from dialogs.parse_dates import parse_date
from dialogs.turn import Turn
from texts import format as words

__all__ = ["BookDialog", "BookFlow"]


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


class BookFlow(BookWishes, BookLottery, YesNoFlow):
    """Questions, guards and actions of the booking dialog."""

    # --- questions -------------------------------------------------------------------------------------
    def ask_patient(self) -> None:
        turn = self.turn
        if "keep.wish" in turn.data:
            turn.data["wish"] = turn.data.pop("keep.wish")
        managed, turn.managed = turn.managed, None  # read by the menu that opened the booking this step, if so
        patients = turn.deps.patients.views(managed) if managed else turn.deps.patients.patients_of(turn.acct)
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
        wished = self.wish.pop("hospital", None)  # a department's QR code names its hospital
        if wished in {h.id for h in hospitals}:
            turn.data["hospital"] = wished
            self.fire("skip")
            return
        named = self.wished_hospitals()  # a sentence's department or doctor may belong to one hospital only
        if len(hospitals) == 1 or len(named) == 1:
            turn.data["hospital"] = named[0] if len(named) == 1 else hospitals[0].id
            self.fire("skip")
            return
        names = [name_in(turn.lang, h.name, h.name_en) for h in hospitals]
        turn.offer(turn.t("book.ask_hospital"), names, [h.id for h in hospitals], aliases=[h.name for h in hospitals])

    def ask_department(self) -> None:
        turn = self.turn
        departments = self.bookable_departments()
        if not departments:
            turn.say("book.no_departments", hospital=self.hospital_name())
            if len(turn.deps.schedule.hospitals()) > 1:
                self.fire("back")
            else:
                turn.switch("menu")
            return
        wished = self.wish.pop("department", None)  # a department's QR code
        if wished in {d.id for d in departments}:
            turn.data["department"] = wished
            if self.department_allowed():  # else the refusal is said and the departments are offered
                self.fire("skip")
                return
        if self.wished_department(departments) and self.department_allowed():
            self.fire("skip")
            return
        title = turn.t("book.ask_department", hospital=self.hospital_name())
        names = [name_in(turn.lang, d.name, d.name_en) for d in departments]
        # the other language's name chooses too: 心血管内科 in English, Cardiology in Chinese
        aliases = [d.name if turn.lang == "en" else d.name_en or d.name for d in departments]
        turn.offer(title, names, [d.id for d in departments], aliases=aliases)

    def ask_date(self) -> None:
        turn = self.turn
        labels: list[str] = []
        values: list[str] = []
        window = self.window_dates(self.hospital, self.department)
        self.read_slots(window)  # the week's slots in two round trips, not two a day (read already if short)
        for day in window:
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
        wished_day = date.fromisoformat(wished) if wished else None
        usable = wished_day is not None and self.usable_day(wished_day, [date.fromisoformat(v) for v in values])
        if wished_day is not None and usable and not self.department_refuses_on(wished_day):
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
            visit=words.visit(slot.date, slot.start, turn.lang, slot.end),
            hospital=self.hospital_name(),
            department=self.department_name(),
            doctor=self.doctor_name(slot),
            level=self.level(slot),
            fee=words.money(slot.fee_cents, self.turn.lang),
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
        elif not self.said_out_of_range():
            self.say("common.not_an_option", text=self.turn.echo)
        return None

    def said_out_of_range(self) -> bool:
        """A number beyond the list is named as such, with the numbers that can be sent."""
        number, count = parse.parse_number(self.turn.text), len((self.turn.data.get("options") or {}).get("values", []))
        if number is None or count == 0 or 1 <= number <= count:
            return False
        self.say("common.out_of_range", n=number, count=count)
        return True

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

    def department_allowed(self) -> bool:
        """Whether the department a sentence named sees this patient (RULES §9); when not, said and forgotten."""
        refusal = self.department_refusal(self.department)
        if not refusal.allowed:
            self.say_refusal(refusal)
            del self.turn.data["department"]
        return refusal.allowed

    def department_chosen(self) -> bool:
        department = self._pick()
        if department is None:
            return False
        refusal = self.department_refusal(str(department))
        if not refusal.allowed:  # a child's department for an adult (RULES §9): say so before dates and times
            self.turn.data["department"] = str(department)
            self.say_refusal(refusal)
            del self.turn.data["department"]
            return False
        self.turn.data["department"] = str(department)
        return True

    def date_chosen(self) -> bool:
        turn = self.turn
        options = turn.data.get("options") or {"values": []}
        choices = [date.fromisoformat(v) for v in options["values"]]
        day = parse_date(turn.text, turn.today(self.hospital), choices)
        day = day or self.day_with_filters()
        if day is None:  # a label typed back ("Tue 24 Nov"), or a part of one
            match: parse.Match[Any] = turn.chosen()
            if match.kind == parse.MatchKind.AMBIGUOUS:
                turn.say_ambiguous(match)
                return False
            if match.ok:
                day = date.fromisoformat(str(match.value))
        if day is None:
            if not self.said_out_of_range():
                self.say("book.date_unknown", text=turn.echo)
            return False
        if not self.usable_day(day, choices) or self.department_refuses_on(day):
            return False
        turn.data["date"] = day.isoformat()
        return True

    def slot_chosen(self) -> bool:
        slot_id = self._pick()
        if slot_id is None:
            return False
        slot = self.slot_of(str(slot_id))
        if slot is None:
            self.say_refusal(rules.Decision.refuse("no_slot"))
            return False
        if slot.status != "open":
            self.say_refusal(rules.Decision.refuse("slot_closed"))
            return False
        if slot.places_left <= 0:  # full: its waitlist is offered (候补, dialogs.waitlist), the choices kept
            kept = {name: self.turn.data[name] for name in ("pid", "hospital", "department", "date")}
            self.turn.data["keep.waitlist"] = {**kept, "slot": slot.id}
            self.turn.switch("waitlist")
            return False
        self.turn.data["slot"] = slot.id
        return True

    def said_no(self) -> bool:
        return intents.declines_booking(self.turn.text)

    # --- actions ---------------------------------------------------------------------------------------
    def decline(self) -> None:
        self.say("book.declined")
        self.turn.switch("menu")

    def book(self) -> None:
        turn = self.turn
        try:
            if self.registered_in_lottery():  # a day's release lottery window: registered for its draw instead
                return
            appointment = turn.deps.booking.book(
                str(turn.data["pid"]),
                turn.acct,
                turn.channel.value,
                str(turn.data["slot"]),
                request_id=request_id(turn),  # a retry of this message gets this booking, never a second
            )
        except BookingRefused as refused:
            self.forget_reads()  # what it was refused for is read again where the dialog goes back to
            self.after_refusal(refused.decision)
            return
        except OutcomeUnconfirmed as pending:  # the replicas did not confirm it: never a false "预约成功" (SPEC §7)
            turn.deps.booking.settlements.defer(pending, turn.inbound.user, turn.channel.value)
            self.say("settle.booking_pending", serial=pending.appointment.serial)
            turn.switch("menu")
            return
        # the confirmation is queued and the reminders scheduled, to this user on this channel (RULES §7)
        turn.deps.reminders.on_booked(appointment, turn.inbound.user, turn.channel.value)
        hospital = turn.deps.schedule.hospital(appointment.hospital)
        name = self.hospital_name()
        place = (  # the address is written in Chinese only: left out in English, as the pushed notices do
            turn.t("book.place_with_address", hospital=name, address=hospital.address)
            if hospital and hospital.address and turn.lang != "en"
            else name
        )
        done = turn.t(
            "book.done",
            serial=appointment.serial,
            queue=appointment.queue_no,
            visit=words.visit(appointment.date, appointment.start, turn.lang, appointment.end),
            place=place,
            department=self.department_name(appointment.department),
            doctor=self.doctor_name(appointment),
            fee=words.money(appointment.fee_cents, self.turn.lang),
        )
        deadline = self.deadline_line(appointment.slot_facts(self.policy.tz))
        turn.paragraphs.append("\n".join([done, *([deadline] if deadline else [])]))
        calendar = turn.deps.calendar.url_for(appointment) if turn.deps.calendar is not None else None
        if calendar:  # the calendar file (SPEC §7): a paragraph of its own, an SMS packs it with what follows
            turn.say("ics.link", url=calendar)
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


def request_id(turn: Turn) -> str | None:
    """The booking request's id: the inbound message's (hashed: it names nothing), so a platform's retry of the same
    message commits nothing twice; ``None`` (a fresh id) for a channel without message ids (the terminal)."""
    message_id = turn.inbound.message_id
    if not message_id:
        return None
    seed = f"{turn.channel.value}\x00{turn.acct}\x00{message_id}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "skip", "source": State.patient, "dest": State.hospital},
    stays(State.patient, "take_sentence_at_patient", when="typed_sentence_at_hospital"),
    {"trigger": "answer", "source": State.patient, "dest": State.hospital, "conditions": "patient_chosen"},
    {"trigger": "answer", "source": State.patient, "dest": None},
    {"trigger": "skip", "source": State.hospital, "dest": State.department},
    stays(State.hospital, "take_sentence_at_hospital", when="typed_sentence_at_hospital"),
    {"trigger": "answer", "source": State.hospital, "dest": State.department, "conditions": "hospital_chosen"},
    {"trigger": "answer", "source": State.hospital, "dest": None},
    {"trigger": "back", "source": State.department, "dest": State.hospital},
    {"trigger": "skip", "source": State.department, "dest": State.date},
    stays(State.department, "take_sentence", when="typed_sentence"),
    {"trigger": "answer", "source": State.department, "dest": State.date, "conditions": "department_chosen"},
    {"trigger": "answer", "source": State.department, "dest": None},
    {"trigger": "skip", "source": State.date, "dest": State.slot},
    stays(State.date, "switch_department", when="names_other_department"),
    {"trigger": "redate", "source": [State.date, State.slot], "dest": State.date},
    {"trigger": "answer", "source": State.date, "dest": State.slot, "conditions": "date_chosen"},
    {"trigger": "answer", "source": State.date, "dest": None},
    {"trigger": "back", "source": State.slot, "dest": State.date},
    {"trigger": "reslot", "source": State.slot, "dest": State.slot},
    {"trigger": "picked", "source": State.slot, "dest": State.confirm},
    stays(State.slot, "switch_department", when="names_other_department"),
    stays(State.slot, "change_day", when="typed_date"),
    stays(State.slot, "filter_slots", when="typed_filter"),
    {"trigger": "answer", "source": State.slot, "dest": State.confirm, "conditions": "slot_chosen"},
    {"trigger": "answer", "source": State.slot, "dest": None},
    {"trigger": "back", "source": State.confirm, "dest": State.slot},
    {"trigger": "reslot", "source": State.confirm, "dest": State.slot},
    {"trigger": "redate", "source": State.confirm, "dest": State.date},
    *yes_no(State.confirm, yes="book", no="decline"),
]


class BookDialog(Dialog):
    """预约挂号."""

    name = "book"
    states = State
    transitions = TRANSITIONS
    flow = BookFlow
