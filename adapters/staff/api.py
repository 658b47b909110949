"""The staff HTTP API (SPEC §4): JSON in and out, ``Authorization: Bearer <staff token>`` on every call.

A token may be scoped to some hospitals (SPEC §7). ``StaffToken.may_act_for`` decides; every endpoint passes the
hospital its request is about through :func:`require_hospital` (403 for another hospital's), the listing keeps only
what it allows, and a schedule import names the rows it refuses (403, nothing imported). An appointment of another
hospital is a 403, not a 404: SPEC §7 says so, and the desk learns the serial is real but not theirs (no patient
data leaks: the refusal names only the hospital id) rather than being told a real booking does not exist.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from bot.audit import staff_actor
from bot.broadcasts import InvalidBroadcastError
from bot.config import StaffToken
from bot.errors import GuahaoError, InvalidRequestError, NotFoundError
from bot.records import Appointment
from bot.schedule import ScheduleImportError, parse_schedule_csv
from bot.services import Services

log = logging.getLogger(__name__)

MAX_SCHEDULE_BYTES = 16 * 1024 * 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

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
    """Let the request through only with a valid staff token; remember it (its name, its scope)."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    found = None
    if scheme.lower() == "bearer" and presented:
        for token in services().config.security.staff_tokens:
            # compare with every token, in constant time, so timing tells nothing about any of them
            if hmac.compare_digest(token.token.encode(), presented.strip().encode()):
                found = token
    if found is None:
        response, status = error(401, "missing or invalid staff token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="guahao staff"'
        return response, status
    g.staff_token = found
    return None


def staff_token() -> StaffToken:
    """The token of this request (set by :func:`authenticate`)."""
    found: StaffToken = g.staff_token
    return found


def actor() -> str:
    """The audit actor of this request: ``staff:<token name>``."""
    return staff_actor(staff_token().name)


class OutOfScopeError(GuahaoError):
    """The token may not act for this hospital (SPEC §7); ``lines`` are the schedule rows concerned, if any."""

    def __init__(self, hospitals: Iterable[str], lines: Iterable[int] = ()) -> None:
        self.hospitals = sorted(set(hospitals))
        self.lines = sorted(set(lines))
        super().__init__(f"this staff token may not act for hospital {', '.join(self.hospitals)}")


def require_hospital(*hospital_ids: str) -> None:
    """The one scope guard of the staff API: raise :class:`OutOfScopeError` (403) unless the token may act for
    every one of these hospitals."""
    token = staff_token()
    refused = [h for h in hospital_ids if not token.may_act_for(h)]
    if refused:
        raise OutOfScopeError(refused)


@staff_api.errorhandler(OutOfScopeError)
def out_of_scope(exc: OutOfScopeError) -> tuple[Response, int]:
    log.warning(
        "staff token out of scope",
        extra={"token": staff_token().name, "hospitals": exc.hospitals, "endpoint": request.endpoint},
    )
    if not exc.lines:
        return error(403, str(exc))
    reason = str(exc)
    shown = ", ".join(map(str, exc.lines))
    return error(
        403,
        f"schedule import refused: {reason} (line{'s' if len(exc.lines) > 1 else ''} {shown})",
        errors=[{"line": line, "reason": reason} for line in exc.lines],
    )


class BadInputError(GuahaoError):
    """A malformed request (400); the message says what is wrong."""


@staff_api.errorhandler(BadInputError)
def bad_input(exc: BadInputError) -> tuple[Response, int]:
    return error(400, str(exc))


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object of valid Unicode text, or :class:`BadInputError`."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInputError("expected a JSON object body")
    try:
        # json.loads accepts "\ud800", which no UTF-8 store or channel can take: refuse it here, not with a 500
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadInputError("expected Unicode text: the body holds a lone surrogate (\\ud800-\\udfff)") from None
    return body


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


def is_day(value: str) -> bool:
    """Whether ``value`` is a real date written YYYY-MM-DD (``date.fromisoformat`` alone also takes 20261124 and
    2026-W48-2, which name no stored day)."""
    try:
        return bool(_DATE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


@staff_api.get("/appointments")
def list_appointments() -> Any:
    """Appointments, filtered by any of date, hospital and department."""
    day = request.args.get("date") or None
    hospital = request.args.get("hospital") or None
    department = request.args.get("department") or None
    if day is not None and not is_day(day):
        return error(400, f"date: expected YYYY-MM-DD, got {day!r}")
    config = services().config
    if hospital is not None:
        if config.hospital(hospital) is None:
            return error(400, f"hospital: unknown hospital {hospital!r}")
        require_hospital(hospital)
    found = services().store.listing(day=day, hospital=hospital, department=department)
    token = staff_token()
    # without a hospital filter, a scoped token lists its own hospitals' appointments and nothing else
    return {"appointments": [appointment_json(a) for a in found if token.may_act_for(a.hospital)]}


def appointment_in_scope(serial: str) -> Appointment:
    """The appointment of this serial (404 if none), if the token may act for its hospital (else 403)."""
    appointment = services().store.require(serial)
    require_hospital(appointment.hospital)
    return appointment


@staff_api.post("/appointments/<serial>/checkin")
def checkin(serial: str) -> Any:
    """Mark attended."""
    appointment = appointment_in_scope(serial)
    return appointment_json(services().standing.checkin(appointment.serial, actor()))


@staff_api.post("/appointments/<serial>/waive")
def waive(serial: str) -> Any:
    """Waive a no-show (or a late cancellation's violation)."""
    appointment = appointment_in_scope(serial)
    return appointment_json(services().standing.waive(appointment.serial, actor()))


@staff_api.get("/patients/<serial>/standing")
def standing(serial: str) -> Any:
    """The standing of the patient of an appointment."""
    appointment = appointment_in_scope(serial)
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
        rows = parse_schedule_csv(text, services().config)
        token = staff_token()
        foreign = [row for row in rows if not token.may_act_for(row.hospital)]
        if foreign:
            raise OutOfScopeError((row.hospital for row in foreign), (row.line for row in foreign))
        result = services().schedule.import_rows(rows, actor=actor())
    except ScheduleImportError as exc:
        return jsonify(exc.to_json()), 400
    return {"slots": result.accepted}


@staff_api.post("/broadcasts")
def create_broadcast() -> Any:
    """Notify (and with ``cancel``, cancel by the hospital) every appointment booked there: queued for the worker."""
    body = json_object()
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
    require_hospital(wanted.hospital)
    progress, new = broadcasts.create(wanted, actor())
    if new and not progress.finished:
        broadcasts.enqueue(progress.id)
    return {"id": progress.id}, 202


@staff_api.get("/broadcasts/<broadcast_id>")
def broadcast_progress(broadcast_id: str) -> Any:
    """How far a broadcast got."""
    progress = services().broadcasts.get(broadcast_id)
    require_hospital(progress.hospital)
    return progress.to_json()
