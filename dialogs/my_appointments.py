"""我的预约: the upcoming appointments of every patient of the account, each with how to reschedule (改约) or cancel
it; then what the account is still waiting for — its waitlist entries (候补, numbered as ``退出候补 <n>`` takes them,
with how to leave one) and its registrations in release lotteries not drawn yet (with when the results come); then
each patient's standing (RULES §5).

One short paragraph per appointment, entry and registration (SMS: within two segments each, packed together while
they fit), then one line per patient: no-shows this year and, when suspended, until when.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import rules
from bot.lottery_pending import pending_registrations
from bot.patients import PatientView
from bot.records import Appointment
from dialogs.appointments import (
    department_name,
    describe,
    doctor_name,
    moment_text,
    patient_label,
    standing_line,
    upcoming,
)
from dialogs.machine import Dialog, Flow
from dialogs.message import Channel
from dialogs.turn import Turn
from dialogs.waitlist import entry_text
from texts import format as words


def show_appointments(turn: Turn) -> None:
    """The upcoming appointments, each with 改约 beside cancel (SPEC §8; over SMS said once, after them)."""
    found = upcoming(turn)
    if not found:
        turn.say("appointments.none")
        return
    turn.say("appointments.header", count=len(found))
    sms = turn.channel == Channel.sms
    for appointment in found:
        manage = "" if sms else "\n" + manage_text(turn, appointment)
        turn.paragraphs.append(describe(turn, appointment) + manage)
    if sms:
        turn.say("appointments.manage_sms")


def manage_text(turn: Turn, appointment: Appointment) -> str:
    """What can still be done with an appointment online: 改约 and cancel until its cancellation deadline (RULES §4,
    §11); after it, a cancellation counted as a violation where the hospital allows that, else nothing (said)."""
    policy = turn.deps.store.policy_for(appointment.hospital)
    terms = rules.cancel_terms(policy, appointment.slot_facts(policy.tz), turn.now)
    if terms.outcome == rules.CancelOutcome.timely:
        return turn.t("appointments.manage", serial=appointment.serial)
    shown = moment_text(turn, terms.deadline, appointment.hospital)
    if terms.outcome == rules.CancelOutcome.late:
        return turn.t("appointments.manage_late", serial=appointment.serial, deadline=shown)
    return turn.t("appointments.manage_closed", deadline=shown)


def show_waitlist(turn: Turn) -> None:
    """The account's live waitlist entries and how to leave one; nothing when it waits for none."""
    entries = turn.deps.waitlist.of_account(turn.acct)
    if not entries:
        return
    turn.say("waitlist.header", count=len(entries))
    turn.paragraphs.extend(entry_text(turn, n, entry) for n, entry in enumerate(entries, start=1))
    turn.say("waitlist.leave_hint")


def show_lottery(turn: Turn, patients: list[PatientView]) -> None:
    """The registrations of the account's ``patients`` in draws not drawn yet, with when the results come; nothing
    when none."""
    own = {patient.pid: patient for patient in patients}
    pending = [r for r in pending_registrations(turn.deps.redis, turn.acct) if r.pid in own]
    slots = {r.slot_id: turn.deps.schedule.slot(r.slot_id) for r in pending}
    shown = [(r, slot) for r in pending if (slot := slots[r.slot_id]) is not None]
    if not shown:
        return
    turn.say("appointments.lottery_header", count=len(shown))
    for registration, slot in shown:
        described = {
            "patient": patient_label(turn, own[registration.pid].name_masked),
            "visit": words.visit(slot.date, slot.start, turn.lang, slot.end),
            "department": department_name(turn, slot.hospital, slot.department),
            "doctor": doctor_name(turn, slot),
        }
        if registration.results_at <= turn.now:  # the window has ended; the draw runs at the next tick
            turn.say("appointments.lottery_item_drawing", **described)
        else:
            turn.say(
                "appointments.lottery_item",
                **described,
                results=moment_text(turn, registration.results_at, slot.hospital),
            )


class State(StrEnum):
    listing = "listing"


class AppointmentsFlow(Flow):
    """Shows the listing and goes back to the menu: there is nothing to answer."""

    def ask_listing(self) -> None:
        turn = self.turn
        patients = turn.deps.patients.patients_of(turn.acct)
        show_appointments(turn)
        show_waitlist(turn)
        show_lottery(turn, patients)
        lines = [
            standing_line(turn, patient.name_masked, turn.deps.standing.standing(patient.pid)) for patient in patients
        ]
        if lines:
            turn.paragraphs.append("\n".join(lines))
        turn.switch("menu")


TRANSITIONS: list[dict[str, Any]] = [{"trigger": "answer", "source": State.listing, "dest": None}]


class AppointmentsDialog(Dialog):
    """我的预约."""

    name = "appointments"
    states = State
    transitions = TRANSITIONS
    flow = AppointmentsFlow
