"""The calendar file of one appointment (RFC 5545), written with ``icalendar``.

One VEVENT whose UID is the appointment's (``<serial>@guahao``: the same event whenever the file is fetched again),
times with ``TZID=Asia/Shanghai`` (the hospital's zone) and the VTIMEZONE that defines it, the hospital and its
address as LOCATION, and a VALARM for each reminder RULES §7 schedules for it (the end of free cancellation, the
evening before, shortly before). Cancelled (by the patient or the hospital): ``STATUS:CANCELLED`` and SEQUENCE 1,
so a calendar that imported it updates the same event; no alarms. DTSTAMP is the last change (booking or
cancellation), so the same state gives the same file. No ID number or phone: the patient is the masked name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Alarm, Calendar, Event

import rules
from bot.config import Config
from bot.names import name_in
from bot.records import Appointment, local_moment
from texts import format as words
from texts import text

PRODID = "-//guahao//appointment calendar//ZH"
ALARMS = {
    rules.ReminderKind.window_end: "ics.alarm_window_end",
    rules.ReminderKind.day_before: "ics.alarm_day_before",
    rules.ReminderKind.before_start: "ics.alarm_before_start",
}


def uid(serial: str) -> str:
    """The event's UID: stable for the appointment (RFC 5545 §3.8.4.7)."""
    return f"{serial}@guahao"


def appointment_calendar(appointment: Appointment, config: Config, lang: str) -> bytes:
    """The VCALENDAR of ``appointment`` in ``lang`` (the language of the account that booked it)."""
    hospital = config.hospital(appointment.hospital)
    policy = hospital.policy if hospital else config.policy
    department = hospital.department(appointment.department) if hospital else None
    names: dict[str, Any] = {
        "hospital": name_in(lang, hospital.name, hospital.name_en) if hospital else appointment.hospital,
        "department": name_in(lang, department.name, department.name_en) if department else appointment.department,
        "doctor": name_in(lang, appointment.doctor_name or appointment.doctor, person=True),
    }
    start = local_moment(appointment.date, appointment.start, policy.tz)
    cancelled = appointment.status.is_cancelled
    event = Event()
    event.add("uid", uid(appointment.serial))
    event.add("sequence", 1 if cancelled else 0)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    changed = appointment.cancelled_at if cancelled and appointment.cancelled_at else appointment.booked_at
    event.add("dtstamp", changed.astimezone(UTC))
    event.add("created", appointment.booked_at.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", local_moment(appointment.date, appointment.end, policy.tz))
    event.add("summary", text(lang, "ics.summary_cancelled" if cancelled else "ics.summary", **names))
    address = hospital.address if hospital and hospital.address else ""
    event.add("location", f"{names['hospital']} {address}".strip())
    checkin = words.clock(start.astimezone(policy.tz) - timedelta(minutes=policy.checkin_deadline_minutes))
    described = {**names, "patient": name_in(lang, appointment.patient_name_masked), "serial": appointment.serial,
                 "queue": appointment.queue_no, "checkin": checkin}  # fmt: skip
    event.add("description", text(lang, "ics.description_cancelled" if cancelled else "ics.description", **described))
    if not cancelled:
        for alarm in _alarms(appointment, policy, start, names, lang):
            event.add_component(alarm)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    calendar.add_missing_timezones()  # the VTIMEZONE of Asia/Shanghai, from the zoneinfo database
    return bytes(calendar.to_ical())


def _alarms(
    appointment: Appointment, policy: rules.Policy, start: datetime, names: dict[str, Any], lang: str
) -> list[Alarm]:
    """A display alarm for each reminder of the appointment, triggered relative to its start."""
    facts = appointment.slot_facts(policy.tz)
    found = []
    for kind, at in sorted(rules.reminder_times(policy, facts, appointment.booked_at).items(), key=lambda i: i[1]):
        deadline = words.moment(rules.cancel_deadline(policy, facts).astimezone(policy.tz), lang)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", text(lang, ALARMS[kind], start=appointment.start, deadline=deadline, **names))
        alarm.add("trigger", at - start)
        found.append(alarm)
    return found
