"""The staff HTTP API (SPEC §4): JSON in and out, ``Authorization: Bearer <staff token>`` on every call."""

from __future__ import annotations

import hmac
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from bot.app.services import Services
from bot.audit import staff_actor
from bot.broadcasts import InvalidBroadcastError
from bot.errors import InvalidRequestError, NotFoundError
from bot.records import Appointment
from bot.schedule import ScheduleImportError

MAX_SCHEDULE_BYTES = 16 * 1024 * 1024

staff_api = Blueprint("staff_api", __name__, url_prefix="/api/staff")


def services() -> Services:
    """The services of this app."""
    found: Services = current_app.extensions["guahao"]
    return found


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error answer."""
    return jsonify({"error": message, **extra}), status


@staff_api.before_request
def authenticate() -> tuple[Response, int] | None:
    """Let the request through only with a valid staff token; remember its name for the audit trail."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    name = None
    if scheme.lower() == "bearer" and presented:
        for token in services().config.security.staff_tokens:
            # compare with every token, in constant time, so timing tells nothing about any of them
            if hmac.compare_digest(token.token.encode(), presented.strip().encode()):
                name = token.name
    if name is None:
        response, status = error(401, "missing or invalid staff token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="guahao staff"'
        return response, status
    g.staff_name = name
    return None


@staff_api.errorhandler(NotFoundError)
def not_found(exc: NotFoundError) -> tuple[Response, int]:
    return error(404, str(exc))


@staff_api.errorhandler(InvalidRequestError)
def conflict(exc: InvalidRequestError) -> tuple[Response, int]:
    return error(409, str(exc))


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    """The SPEC §4 shape of an appointment: ids with names beside them, fees in yuan, the name masked."""
    config = services().config
    hospital = config.hospital(appointment.hospital)
    department = hospital.department(appointment.department) if hospital else None
    return {
        "serial": appointment.serial,
        "hospital": appointment.hospital,
        "hospital_name": hospital.name if hospital else appointment.hospital,
        "department": appointment.department,
        "department_name": department.name if department else appointment.department,
        "doctor": appointment.doctor,
        "doctor_name": appointment.doctor_name or appointment.doctor,
        "level": appointment.level.value,
        "date": appointment.date,
        "start": appointment.start,
        "end": appointment.end,
        "queue_no": appointment.queue_no,
        "status": appointment.status.value,
        "channel": appointment.channel,
        "patient_name_masked": appointment.patient_name_masked,
        "fee": appointment.fee_cents / 100,
        "refund": appointment.refund_cents / 100 if appointment.refund_cents is not None else None,
    }


@staff_api.get("/appointments")
def list_appointments() -> Any:
    """Appointments, filtered by any of date, hospital and department."""
    day = request.args.get("date") or None
    hospital = request.args.get("hospital") or None
    department = request.args.get("department") or None
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            return error(400, f"date: expected YYYY-MM-DD, got {day!r}")
    config = services().config
    if hospital is not None and config.hospital(hospital) is None:
        return error(400, f"hospital: unknown hospital {hospital!r}")
    found = services().store.listing(day=day, hospital=hospital, department=department)
    return {"appointments": [appointment_json(a) for a in found]}


@staff_api.post("/appointments/<serial>/checkin")
def checkin(serial: str) -> Any:
    """Mark attended."""
    return appointment_json(services().standing.checkin(serial, staff_actor(g.staff_name)))


@staff_api.post("/appointments/<serial>/waive")
def waive(serial: str) -> Any:
    """Waive a no-show (or a late cancellation's violation)."""
    return appointment_json(services().standing.waive(serial, staff_actor(g.staff_name)))


@staff_api.get("/patients/<serial>/standing")
def standing(serial: str) -> Any:
    """The standing of the patient of an appointment."""
    appointment = services().store.require(serial)
    found = services().standing.standing(appointment.pid)
    return {
        "no_shows_this_year": found.no_shows_this_year,
        "suspended_until": found.suspended_until.isoformat() if found.suspended_until else None,
    }


@staff_api.post("/schedule")
def import_schedule() -> Any:
    """Import a schedule CSV (the body): all rows or none."""
    if request.content_length is not None and request.content_length > MAX_SCHEDULE_BYTES:
        return error(413, f"schedule larger than {MAX_SCHEDULE_BYTES // (1024 * 1024)} MiB")
    try:
        text = request.get_data(cache=False).decode("utf-8-sig")
    except UnicodeDecodeError:
        return error(400, "the schedule must be UTF-8 CSV text")
    try:
        return {"slots": services().schedule.import_csv(text)}
    except ScheduleImportError as exc:
        return jsonify(exc.to_json()), 400


@staff_api.post("/broadcasts")
def create_broadcast() -> Any:
    """Notify (and with ``cancel``, cancel by the hospital) every appointment booked there: queued for the worker."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object body")
    broadcasts = services().broadcasts
    try:
        wanted = broadcasts.validate(
            body.get("hospital"),
            body.get("date"),
            body.get("text"),
            body.get("department"),
            body.get("doctor"),
            body.get("cancel", False),
        )
    except InvalidBroadcastError as exc:
        return error(400, str(exc))
    progress, new = broadcasts.create(wanted, staff_actor(g.staff_name))
    if new and not progress.finished:
        broadcasts.enqueue(progress.id)
    return {"id": progress.id}, 202


@staff_api.get("/broadcasts/<broadcast_id>")
def broadcast_progress(broadcast_id: str) -> Any:
    """How far a broadcast got."""
    return services().broadcasts.get(broadcast_id).to_json()
