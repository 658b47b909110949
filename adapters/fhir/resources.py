"""Our schedule and appointments as FHIR R4 resources, built with ``fhir.resources`` (its R4B models: FHIR 4.3.0,
whose Schedule, Slot, Appointment, Bundle and OperationOutcome are those of R4 4.0.1), so that what is built is
validated against the specification's types, cardinalities and id patterns.

Mapping, kept to what the facts say: a Schedule per hospital + department + doctor; a Slot per slot, ``free`` with
places left, ``busy`` when full, ``busy-unavailable`` when the clinic is suspended (停诊); an Appointment per
appointment, identified by its serial, status ``booked`` / ``cancelled`` (with who cancelled) / ``fulfilled``
(attended) / ``noshow``; the patient is only the masked name (``张*``), never an ID number or a phone.
FHIR ids allow only ``[A-Za-z0-9-.]``, our ids any text (Chinese included): resource ids are digests of
them, and our own ids travel as identifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot

import rules
from bot.records import Appointment, Slot, local_moment

SYSTEM = "urn:guahao"
"""Identifier systems: ``urn:guahao:serial``, ``urn:guahao:slot``, ``urn:guahao:schedule``."""
CANCELLATION_REASONS = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
Status = rules.AppointmentStatus
APPOINTMENT_STATUS = {
    Status.booked: "booked",
    Status.cancelled: "cancelled",
    Status.cancelled_late: "cancelled",
    Status.cancelled_by_hospital: "cancelled",
    Status.attended: "fulfilled",
    Status.no_show: "noshow",
    Status.no_show_waived: "noshow",
}
CANCELLED_BY = {Status.cancelled: "pat", Status.cancelled_late: "pat", Status.cancelled_by_hospital: "prov"}
"""Who cancelled (R4's appointment-cancellation-reason codes): the patient, or the provider (停诊)."""


def fhir_id(kind: str, *parts: str) -> str:
    """A FHIR id for one of our ids (any text): ``<kind>-`` and a digest, stable across calls and deployments."""
    return f"{kind}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:32]}"


def schedule_id(hospital: str, department: str, doctor: str) -> str:
    return fhir_id("schedule", hospital, department, doctor)


def slot_status(slot: Slot) -> str:
    """``busy-unavailable`` when the clinic is suspended, ``busy`` when full, else ``free``."""
    if slot.status != "open":
        return "busy-unavailable"
    return "free" if slot.places_left > 0 else "busy"


def _instant(day: str, time: str, tz: ZoneInfo) -> str:
    return local_moment(day, time, tz).isoformat()


def _concept(text: str) -> dict[str, str]:
    return {"text": text}


def schedule_resource(facts: Slot, names: tuple[str, str, str], horizon: tuple[str, str], tz: ZoneInfo) -> FhirSchedule:
    """The Schedule of one doctor of one department (``names``: hospital, department, doctor as read)."""
    hospital, department, doctor = names
    ids = (facts.hospital, facts.department, facts.doctor)
    return FhirSchedule.model_validate(
        {
            "id": schedule_id(*ids),
            "identifier": [{"system": f"{SYSTEM}:schedule", "value": "|".join(ids)}],
            "active": True,
            "serviceType": [_concept(department)],
            "actor": [
                {"type": "Practitioner", "display": doctor},
                {"type": "Location", "display": hospital},
            ],
            "planningHorizon": {"start": _instant(horizon[0], "00:00", tz), "end": _instant(horizon[1], "23:59", tz)},
        }
    )


def slot_resource(slot: Slot, department: str, tz: ZoneInfo) -> FhirSlot:
    """One slot, with its schedule, times and status."""
    return FhirSlot.model_validate(
        {
            "id": fhir_id("slot", slot.id),
            "identifier": [{"system": f"{SYSTEM}:slot", "value": slot.id}],
            "serviceType": [_concept(department)],
            "schedule": {"reference": f"Schedule/{schedule_id(slot.hospital, slot.department, slot.doctor)}"},
            "status": slot_status(slot),
            "start": _instant(slot.date, slot.start, tz),
            "end": _instant(slot.date, slot.end, tz),
        }
    )


def appointment_resource(appointment: Appointment, names: tuple[str, str, str], tz: ZoneInfo) -> FhirAppointment:
    """One appointment: its serial, status, times, slot, and the participants by name (the patient's masked)."""
    hospital, department, doctor = names
    status = APPOINTMENT_STATUS[appointment.status]
    found: dict[str, object] = {
        "id": appointment.serial,
        "identifier": [{"system": f"{SYSTEM}:serial", "value": appointment.serial}],
        "status": status,
        "serviceType": [_concept(department)],
        "start": _instant(appointment.date, appointment.start, tz),
        "end": _instant(appointment.date, appointment.end, tz),
        "created": appointment.booked_at.astimezone(tz).isoformat(),
        "slot": [{"reference": f"Slot/{fhir_id('slot', appointment.slot)}"}],
        "participant": [
            {"actor": {"type": "Patient", "display": appointment.patient_name_masked}, "status": "accepted"},
            {"actor": {"type": "Practitioner", "display": doctor}, "status": "accepted"},
            {"actor": {"type": "Location", "display": hospital}, "status": "accepted"},
        ],
    }
    reason = CANCELLED_BY.get(appointment.status)
    if reason:
        found["cancelationReason"] = {"coding": [{"system": CANCELLATION_REASONS, "code": reason}]}
    return FhirAppointment.model_validate(found)


def searchset(resources: Sequence[Resource], base: str, self_url: str) -> Bundle:
    """A searchset Bundle of ``resources`` (``base`` is the facade's absolute URL, ending in ``/fhir/``)."""
    return Bundle.model_validate(
        {
            "type": "searchset",
            "total": len(resources),
            "link": [{"relation": "self", "url": self_url}],
            "entry": [
                {
                    "fullUrl": f"{base}{r.get_resource_type()}/{r.id}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


SEARCHES = {
    "Schedule": [("hospital", "string")],
    "Slot": [("start", "date"), ("hospital", "string")],
    "Appointment": [("date", "date"), ("hospital", "string")],
}


def capability_statement(software: str, version: str, base: str, published: str) -> CapabilityStatement:
    """What the facade can do (``GET /fhir/metadata``): search Schedule, Slot and Appointment, read-only, JSON."""
    return CapabilityStatement.model_validate(
        {
            "status": "active",
            "date": published,
            "kind": "instance",
            "software": {"name": software, "version": version},
            "implementation": {"description": "guahao FHIR R4 read facade", "url": base},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {"description": "Authorization: Bearer <staff token> (security.staff_tokens)"},
                    "resource": [
                        {
                            "type": kind,
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [{"name": name, "type": type_} for name, type_ in params],
                        }
                        for kind, params in SEARCHES.items()
                    ],
                }
            ],
        }
    )


def outcome(code: str, diagnostics: str) -> OperationOutcome:
    """An error as FHIR says it: one issue (``invalid``, ``login``, ``forbidden``...) with what went wrong."""
    return OperationOutcome.model_validate({"issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]})
