"""How the dialogs show appointments: which are upcoming, their day and time as ``texts.format`` writes them for
chat and pushes alike, names in the conversation's language, one appointment in a line or two, a patient's standing
(RULES §5). Shared by 我的预约 (``dialogs.my_appointments``), cancelling, rescheduling, booking and the waitlist.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import rules
from bot.names import name_in
from bot.records import Appointment, Slot
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
