"""改约 (reschedule, SPEC §8, RULES §11): the appointment → date → slot → confirmation with the fee difference → one
atomic move; the reply gives the new serial and time.

Entered from ``我的预约`` / the words ``改约``/``reschedule`` (the appointment is chosen, or skipped when there is one),
or with a serial (``改约 12345678``, SMS ``MOVE 12345678``). The new slot is of the same hospital and department.
The terms are quoted again at the confirmation; a move that loses the race for the last place keeps the old
appointment and says so, back at the slots.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

import rules
from bot.audit import patient_actor
from bot.errors import NotFoundError
from bot.records import Appointment
from bot.reschedule import RescheduleRefused
from bot.settle import OutcomeUnconfirmed
from dialogs import parse
from dialogs.appointments import department_name, moment_text, patient_label, upcoming, visit_text
from dialogs.book_base import BookBase
from dialogs.confirm import YesNoFlow, yes_no
from dialogs.intents import declines_move
from dialogs.machine import Dialog
from dialogs.parse_dates import parse_date
from dialogs.turn import Turn
from dialogs.waitlist import booked_text
from texts import format as words

_SERIAL = re.compile(r"(?:改约|改期|move|reschedule) ?#?([0-9]{8})")
YES_WORDS = frozenset({"确认改约", "y确认改约"})


class State(StrEnum):
    choose = "choose"
    date = "date"
    slot = "slot"
    confirm = "confirm"


def serial_of(text: str) -> str | None:
    """The serial of ``改约 12345678`` / ``MOVE 12345678``, else None."""
    found = _SERIAL.fullmatch(parse.normalize(text))
    return found[1] if found else None


def start_with_serial(turn: Turn, serial: str) -> None:
    """Go straight to the dates for ``serial`` (``改约 <serial>``, SMS ``MOVE <serial>``)."""
    turn.session.data = {k: v for k, v in turn.data.items() if k.startswith("keep.")}
    turn.data["serial"] = serial.strip()
    RescheduleDialog().start(turn, State.date)


class RescheduleFlow(BookBase, YesNoFlow):
    """Questions, guards and actions of rescheduling."""

    @property
    def pids(self) -> list[str]:
        return self.turn.deps.patients.patient_ids(self.turn.acct)

    def old(self) -> Appointment | None:
        """The appointment being moved, if it is still the account's and booked; else None after saying why."""
        serial = str(self.turn.data.get("serial", ""))
        try:
            found = self.turn.deps.reschedule.owned(serial, self.pids)
        except NotFoundError:
            self.say("cancel.not_found", serial=serial)
            return None
        if found.status != rules.AppointmentStatus.booked:
            self.say("reschedule.not_booked", serial=serial)
            return None
        return found

    # --- questions -------------------------------------------------------------------------------------
    def ask_choose(self) -> None:
        found = upcoming(self.turn, self.pids)
        if not found:
            self.say("reschedule.none")
            self.turn.switch("menu")
            return
        if len(found) == 1:
            self.turn.data["serial"] = found[0].serial
            self.fire("skip")
            return
        labels = [
            self.turn.t(
                "reschedule.option",
                visit=visit_text(self.turn, a, end=False),
                department=department_name(self.turn, a.hospital, a.department),
                patient=patient_label(self.turn, a.patient_name_masked),
                serial=a.serial,
            )
            for a in found
        ]
        self.turn.offer(self.turn.t("reschedule.choose"), labels, [a.serial for a in found])

    def ask_date(self) -> None:
        turn = self.turn
        old = self.old()
        if old is None or not self.movable(old):
            turn.switch("menu")
            return
        turn.data.update(pid=old.pid, hospital=old.hospital, department=old.department, old_slot=old.slot)
        turn.say(
            "reschedule.current",
            serial=old.serial,
            patient=patient_label(turn, old.patient_name_masked),
            visit=visit_text(turn, old),
            department=self.department_name(),
            doctor=self.doctor_name(old),
        )
        labels, values = [], []
        window = self.window_dates(self.hospital, self.department)
        self.read_slots(window)  # the week's slots in two round trips
        for day in window:
            slots = self.others(day)
            if slots:
                full = not any(s.places_left for s in slots)
                label = self.day_with_weekday(day)
                labels.append(turn.t("book.date_full_label", day=label) if full else label)
                values.append(day.isoformat())
        if not labels:
            turn.say("book.no_dates", department=self.department_name())
            turn.switch("menu")
            return
        turn.offer(turn.t("book.ask_date", department=self.department_name()), labels, values)

    def ask_slot(self) -> None:
        turn = self.turn
        day = date.fromisoformat(str(turn.data["date"]))
        slots = self.others(day)
        shown = self.day(day) if self.sms else self.day_with_weekday(day)
        title = turn.t(f"book.ask_slot{self.sms}", day=shown, department=self.department_name())
        turn.offer(title, [self.slot_label(s) for s in slots], [s.id for s in slots])

    def ask_confirm(self) -> None:
        turn = self.turn
        try:
            quote = turn.deps.reschedule.quote(str(turn.data["serial"]), str(turn.data["slot"]), pids=self.pids)
        except (NotFoundError, RescheduleRefused):
            self.say_refusal(rules.Decision.refuse("no_slot"))
            self.fire("back")
            return
        if not quote.decision.allowed:
            self.refused(quote.decision)
            return
        slot, difference = quote.slot, quote.difference
        if difference.to_pay_cents:
            fee = turn.t("reschedule.fee_more", amount=words.money(difference.to_pay_cents, turn.lang))
        elif difference.refund_cents:
            fee = turn.t("reschedule.fee_less", amount=words.money(difference.refund_cents, turn.lang))
        else:
            fee = turn.t("reschedule.fee_same")
        turn.data["stated"] = [difference.to_pay_cents, difference.refund_cents]
        turn.paragraphs.append(
            turn.t(
                "reschedule.confirm",
                old=visit_text(turn, quote.old),
                new=words.visit(slot.date, slot.start, turn.lang, slot.end),
                doctor=self.doctor_name(slot),
                level=self.level(slot),
                fee=words.money(slot.fee_cents, turn.lang),
                difference=fee,
            )
        )
        turn.data.pop("options", None)

    # --- guards ----------------------------------------------------------------------------------------
    def picked(self) -> bool:
        typed = serial_of(self.turn.text) or (self.turn.text if re.fullmatch(r"[0-9]{8}", self.turn.text) else None)
        if typed is not None:
            self.turn.data["serial"] = typed
            return True
        match = self.turn.chosen()
        if match.ok:
            self.turn.data["serial"] = str(match.value)
            return True
        self.say("common.not_an_option", text=self.turn.echo)
        return False

    def date_chosen(self) -> bool:
        turn = self.turn
        options = turn.data.get("options") or {"values": []}
        choices = [date.fromisoformat(v) for v in options["values"]]
        day = parse_date(turn.text, turn.today(self.hospital), choices)
        if day is None:
            match: parse.Match[Any] = turn.chosen()
            day = date.fromisoformat(str(match.value)) if match.ok else None
        if day is None or day not in choices:
            self.say("book.date_unknown", text=turn.echo)
            return False
        if self.department_refuses_on(day):
            return False
        turn.data["date"] = day.isoformat()
        return True

    def date_full(self) -> bool:
        """A date chosen whose every slot is full (it is listed, marked so): nothing to move into there, said, and
        the dates are asked again."""
        options = self.turn.data.get("options") or {"values": []}
        choices = [date.fromisoformat(v) for v in options["values"]]
        day = parse_date(self.turn.text, self.turn.today(self.hospital), choices)
        if day is None:
            match: parse.Match[Any] = self.turn.chosen()
            day = date.fromisoformat(str(match.value)) if match.ok else None
        if day is None or day not in choices or self.has_places(day):
            return False
        self.say("reschedule.day_full", day=self.day(day))
        return True

    def day_typed(self) -> bool:
        """A date typed at the slot question (``11月26日``, ``Thu 26 Nov``) that is not one of its options: that day's
        slots are shown instead (as booking does)."""
        turn = self.turn
        if turn.chosen().ok:
            return False
        day = parse_date(turn.text, turn.today(self.hospital))
        first, last = rules.booking_window(self.policy, turn.now)
        others = self.others(day) if day is not None and first <= day <= last else []
        if day is None or not others:
            return False
        if not any(s.places_left > 0 for s in others):
            self.say("reschedule.day_full", day=self.day(day))
            return False
        if self.department_refuses_on(day):
            return False
        turn.data["date"] = day.isoformat()
        return True

    def day_full(self) -> bool:
        """The slot chosen is full and so is every other one of that day (filled since the list was shown): back to
        the dates rather than choosing among full slots."""
        match: parse.Match[Any] = self.turn.chosen()
        if not match.ok:
            return False
        slot = self.turn.deps.schedule.slot(str(match.value))
        day = date.fromisoformat(str(self.turn.data["date"]))
        if slot is None or slot.places_left > 0 or self.has_places(day):
            return False
        self.say("reschedule.day_full", day=self.day(day))
        return True

    def slot_chosen(self) -> bool:
        match: parse.Match[Any] = self.turn.chosen()
        if not match.ok:
            self.say("common.not_an_option", text=self.turn.echo)
            return False
        slot = self.turn.deps.schedule.slot(str(match.value))
        if slot is None or slot.places_left <= 0:
            self.say("book.slot_full")
            return False
        self.turn.data["slot"] = slot.id
        return True

    def said_yes(self) -> bool:
        """Y, or the prompt's own words typed with any spacing (``确认 改约``)."""
        return parse.parse_yes_no(self.turn.text) is True or self.turn.text.replace(" ", "") in YES_WORDS

    def said_no(self) -> bool:
        return declines_move(self.turn.text)

    # --- actions ---------------------------------------------------------------------------------------
    def others(self, day: date) -> list[Any]:
        """The department's slots of ``day`` not started yet, but the one of the appointment being moved."""
        return [s for s in self.open_slots(day) if s.id != self.turn.data.get("old_slot")]

    def has_places(self, day: date) -> bool:
        """Whether a slot of :meth:`others` on ``day`` has a place left."""
        return any(s.places_left > 0 for s in self.others(day))

    def movable(self, old: Appointment) -> bool:
        decision = self.turn.deps.reschedule.movable(old)
        if decision.allowed:
            return True
        if decision.rule == "reschedule_deadline_passed" and decision.retry_after is not None:
            deadline = moment_text(self.turn, decision.retry_after, old.hospital)
            self.say("reschedule.too_late", serial=old.serial, deadline=deadline)
        else:
            self.say("reschedule.not_booked", serial=old.serial)
        return False

    def refused(self, decision: rules.Decision) -> None:
        """Say why the move is refused and go where the patient can do something about it."""
        rule = decision.rule or "busy"
        if rule == "reschedule_deadline_passed" and decision.retry_after is not None:
            deadline = moment_text(self.turn, decision.retry_after, self.hospital)
            self.say("reschedule.too_late", serial=str(self.turn.data["serial"]), deadline=deadline)
            self.turn.switch("menu")
        elif rule == "reschedule_same_slot":
            self.say("reschedule.same_slot")
            self.fire("back")
        elif rule == "slot_full":
            self.say("reschedule.lost_race", serial=str(self.turn.data["serial"]))
            self.fire("back")
        else:
            self.say_refusal(decision)
            self.turn.switch("menu")

    def move(self) -> None:
        turn = self.turn
        serial = str(turn.data["serial"])
        try:
            moved = turn.deps.reschedule.move(
                serial, str(turn.data["slot"]), patient_actor(turn.channel.value), pids=self.pids
            )
        except RescheduleRefused as refused:
            self.forget_reads()  # what it was refused for is read again where the dialog goes back to
            self.refused(refused.decision)
            return
        except OutcomeUnconfirmed as pending:  # the replicas did not confirm it: the outcome follows (SPEC §7)
            turn.deps.booking.settlements.defer(pending, turn.inbound.user, turn.channel.value)
            self.say("settle.reschedule_pending", serial=pending.appointment.serial)
            turn.switch("menu")
            return
        except NotFoundError:
            self.say("cancel.not_found", serial=serial)
            turn.switch("menu")
            return
        turn.deps.waitlist.offer_pending([str(turn.data["old_slot"])])  # the old place goes to its waiters
        done = booked_text(turn, moved)
        turn.paragraphs.append(
            turn.t(
                "reschedule.done",
                serial=moved.serial,
                visit=words.visit(moved.date, moved.start, turn.lang, moved.end),
                place=self.hospital_name(),
                department=self.department_name(),
                doctor=self.doctor_name(moved),
                queue=moved.queue_no,
                old=serial,
            )
            + "\n"
            + done.split("\n")[-1]  # the cancellation deadline of the new appointment
        )
        turn.switch("menu")

    def keep(self) -> None:
        self.say("reschedule.kept", serial=str(self.turn.data.get("serial", "")))
        self.turn.switch("menu")


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "skip", "source": State.choose, "dest": State.date},
    {"trigger": "answer", "source": State.choose, "dest": State.date, "conditions": "picked"},
    {"trigger": "answer", "source": State.choose, "dest": None},
    {"trigger": "answer", "source": State.date, "dest": State.date, "conditions": "date_full"},
    {"trigger": "answer", "source": State.date, "dest": State.slot, "conditions": "date_chosen"},
    {"trigger": "answer", "source": State.date, "dest": None},
    {"trigger": "answer", "source": State.slot, "dest": State.slot, "conditions": "day_typed"},
    {"trigger": "answer", "source": State.slot, "dest": State.date, "conditions": "day_full"},
    {"trigger": "answer", "source": State.slot, "dest": State.confirm, "conditions": "slot_chosen"},
    {"trigger": "answer", "source": State.slot, "dest": None},
    {"trigger": "back", "source": State.confirm, "dest": State.slot},
    *yes_no(State.confirm, yes="move", no="keep"),
]


class RescheduleDialog(Dialog):
    """改约."""

    name = "reschedule"
    states = State
    transitions = TRANSITIONS
    flow = RescheduleFlow
