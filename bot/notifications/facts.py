"""A notice about an appointment as data (SPEC §9): what a template-only SMS provider (Aliyun, Tencent Cloud) fills
its variables from, since it may not send the notice's free text.

Only what a patient may read in an SMS: the masked name (``张*``), the serial, the slot, the place, the hospital's
own phone — never an ID number or the patient's phone. Values are raw (ISO dates, ``HH:MM``, cents); the SMS
adapter writes them within each provider's variable limits (``adapters/sms/templates.py``).
"""

from __future__ import annotations

from datetime import timedelta

import rules
from bot.config import Config
from bot.names import name_in
from bot.records import Appointment, local_moment


def appointment_facts(config: Config, appointment: Appointment, lang: str = "zh") -> dict[str, str]:
    """The facts of every notice about ``appointment``: patient (masked), serial, date, start, end, hospital,
    department, doctor, queue, deadline (ISO, the free-cancellation deadline), checkin (``HH:MM``), refund_cents,
    contact (the hospital's phone, else its name), lang (names are in it: English names, else pinyin)."""
    hospital = config.hospital(appointment.hospital)
    policy = hospital.policy if hospital is not None else config.policy
    department = hospital.department(appointment.department) if hospital is not None else None
    start = local_moment(appointment.date, appointment.start, policy.tz)
    deadline = rules.cancel_deadline(policy, appointment.slot_facts(policy.tz)).astimezone(policy.tz)
    checkin = start - timedelta(minutes=policy.checkin_deadline_minutes)
    hospital_name = name_in(lang, hospital.name, hospital.name_en) if hospital is not None else appointment.hospital
    refund = appointment.refund_cents if appointment.refund_cents is not None else appointment.fee_cents
    return {
        "lang": lang,
        "patient": name_in(lang, appointment.patient_name_masked),
        "serial": appointment.serial,
        "date": appointment.date,
        "start": appointment.start,
        "end": appointment.end,
        "hospital": hospital_name,
        "department": name_in(lang, department.name, department.name_en) if department else appointment.department,
        "doctor": name_in(lang, appointment.doctor_name or appointment.doctor, person=True),
        "queue": str(appointment.queue_no),
        "deadline": deadline.isoformat(),
        "checkin": checkin.strftime("%H:%M"),
        "refund_cents": str(refund),
        "contact": (hospital.phone if hospital is not None else "") or hospital_name,
    }
