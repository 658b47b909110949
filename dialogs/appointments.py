"""我的预约: the upcoming appointments of every patient of the account, each with how to reschedule (改约) or cancel
it, then each patient's standing (RULES §5).

One short paragraph per appointment (SMS: within two segments), then one line per patient: no-shows this year and,
when suspended, until when. The helpers here (which appointments are upcoming, their day and
time as ``texts.format`` writes them for chat and pushes alike) are shared with the cancellation dialog.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import rules
from bot.names import name_in
from bot.records import Appointment, Slot
from dialogs.machine import Dialog, Flow
from dialogs.message import Channel
from dialogs.turn import Turn
from texts import format as words


def upcoming(turn: Turn, pids: list[str] | None = None) -> list[Appointment]:
    """The booked appointments of the account's patients on today or later (hospital's day), soonest first."""
    found = [
        appointment
        for pid in (turn.deps.patients.patient_ids(turn.acct) if pids is None else pids)
        for appointment in turn.deps.store.of_patient(pid)
        if appointment.status == rules.AppointmentStatus.booked
        and appointment.date >= turn.today(appointment.hospital).isoformat()
    ]
    return sorted(found, key=lambda a: (a.date, a.start, a.hospital, a.department, a.serial))


def full_date_text(turn: Turn, day: date) -> str:
    """``2027年3月14日`` / ``14 Mar 2027``."""
    return words.day(day, turn.lang, weekday=False, year=True)


def moment_text(turn: Turn, moment: datetime, hospital: str) -> str:
    """A deadline in the hospital's zone: ``11月23日 周一 15:00`` (with the year when not this one)."""
    local = moment.astimezone(turn.deps.store.policy_for(hospital).tz)
    return words.moment(local, turn.lang, year=local.year != turn.today(hospital).year)


def visit_text(turn: Turn, appointment: Appointment, *, end: bool = True) -> str:
    """``11月24日 周二 08:00-12:00`` (``end=False``: ``11月24日 周二 08:00``), as the pushed notices write it."""
    return words.visit(appointment.date, appointment.start, turn.lang, appointment.end if end else None)


def hospital_name(turn: Turn, hospital: str) -> str:
    """The hospital's configured name in the conversation's language (its id when unknown)."""
    found = turn.deps.config.hospital(hospital)
    return name_in(turn.lang, found.name, found.name_en) if found is not None else hospital


def department_name(turn: Turn, hospital: str, department: str) -> str:
    """The department's configured name in the conversation's language (its id when unknown)."""
    found = turn.deps.config.hospital(hospital)
    dept = found.department(department) if found is not None else None
    return name_in(turn.lang, dept.name, dept.name_en) if dept is not None else department


def patient_label(turn: Turn, name_masked: str) -> str:
    """A patient's masked name; in English in pinyin (``Ouyang**``): no more shown than masked, and an English SMS
    without Chinese characters is written in GSM-7 (306 characters in two segments, not 134)."""
    return name_in(turn.lang, name_masked)


def doctor_name(turn: Turn, held: Slot | Appointment) -> str:
    """The doctor's name in the conversation's language: the schedule's ``name_en`` in English, else pinyin."""
    name = held.doctor_name or held.doctor
    if turn.lang != "en" or isinstance(held, Slot):
        return name_in(turn.lang, name, held.doctor_name_en if isinstance(held, Slot) else "", person=True)
    slot = turn.deps.schedule.slot(held.slot)  # the English name lives on the slot the appointment was booked in
    return name_in(turn.lang, name, slot.doctor_name_en if slot else "", person=True)


def status_text(turn: Turn, status: rules.AppointmentStatus) -> str:
    """The status in words."""
    return turn.t(f"appointments.status.{status.value}")


def describe(turn: Turn, appointment: Appointment) -> str:
    """One appointment, compact: serial, patient, when, where, who, queue number, status."""
    return turn.t(
        "appointments.item",
        serial=appointment.serial,
        patient=patient_label(turn, appointment.patient_name_masked),
        visit=visit_text(turn, appointment),
        hospital=hospital_name(turn, appointment.hospital),
        department=department_name(turn, appointment.hospital, appointment.department),
        doctor=doctor_name(turn, appointment),
        queue=appointment.queue_no,
        status=status_text(turn, appointment.status),
    )


def standing_line(turn: Turn, name_masked: str, standing: rules.Standing) -> str:
    """``张*:本年度爽约3次,因爽约暂停预约,2027年3月15日起可再预约``."""
    line = turn.t("appointments.standing", patient=patient_label(turn, name_masked), count=standing.no_shows_this_year)
    if standing.suspended_until is not None:
        key = "appointments.suspended_flagged" if standing.reason == "flagged" else "appointments.suspended_no_show"
        # said as the day booking is possible again, as the booking dialog's refusal says it
        line += turn.t(key, until=full_date_text(turn, standing.suspended_until + timedelta(days=1)))
    return line


class State(StrEnum):
    listing = "listing"


class AppointmentsFlow(Flow):
    """Shows the listing and goes back to the menu: there is nothing to answer."""

    def ask_listing(self) -> None:
        turn = self.turn
        found = upcoming(turn)
        if found:
            turn.say("appointments.header", count=len(found))
            sms = turn.channel == Channel.sms
            for appointment in found:  # each with 改约 beside cancel (SPEC §8); over SMS said once, after them
                manage = "" if sms else "\n" + turn.t("appointments.manage", serial=appointment.serial)
                turn.paragraphs.append(describe(turn, appointment) + manage)
            if sms:
                turn.say("appointments.manage_sms")
        else:
            turn.say("appointments.none")
        lines = [
            standing_line(turn, patient.name_masked, turn.deps.standing.standing(patient.pid))
            for patient in turn.deps.patients.patients_of(turn.acct)
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
