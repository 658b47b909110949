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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from bot.appointments import AppointmentStore
from bot.audit import staff_actor
from bot.broadcasts import Broadcasts, InvalidBroadcastError
from bot.config import Config, StaffToken
from bot.errors import GuahaoError, InvalidRequestError, NotFoundError
from bot.lottery import Lottery
from bot.records import Appointment
from bot.schedule import Schedule, ScheduleImportError, parse_schedule_csv
from bot.standing import StandingService
from bot.waitlist import Entry, WaitlistService

log = logging.getLogger(__name__)

MAX_SCHEDULE_BYTES = 16 * 1024 * 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class StaffDesk:
    """The services the staff API uses: the configuration (tokens, hospitals) and the stores staff act on."""

    config: Config
    store: AppointmentStore
    standing: StandingService
    schedule: Schedule
    broadcasts: Broadcasts
    lottery: Lottery
    waitlist: WaitlistService


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error answer."""
    return jsonify({"error": message, **extra}), status


def authenticate(tokens: Iterable[StaffToken]) -> tuple[Response, int] | None:
    """Let the request through only with one of these staff tokens; remember it (its name, its scope)."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    found = None
    if scheme.lower() == "bearer" and presented:
        for token in tokens:
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


def not_found(exc: NotFoundError) -> tuple[Response, int]:
    return error(404, str(exc))


def conflict(exc: InvalidRequestError) -> tuple[Response, int]:
    return error(409, str(exc))


def appointment_json(config: Config, appointment: Appointment) -> dict[str, Any]:
    """The SPEC §4 shape of an appointment: ids with names beside them, fees in yuan, the name masked."""
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


def waitlist_json(config: Config, entry: Entry, position: int) -> dict[str, Any]:
    """The SPEC §7 shape of a waitlist entry: ids with names beside them, its place in the order of joining."""
    hospital = config.hospital(entry.hospital)
    department = hospital.department(entry.department) if hospital else None
    return {
        "hospital": entry.hospital,
        "hospital_name": hospital.name if hospital else entry.hospital,
        "department": entry.department,
        "department_name": department.name if department else entry.department,
        "doctor": entry.doctor,
        "doctor_name": entry.doctor_name or entry.doctor,
        "date": entry.date,
        "start": entry.start,
        "position": position,
        "status": entry.status,
        "patient_name_masked": entry.patient_name_masked,
    }


def is_day(value: str) -> bool:
    """Whether ``value`` is a real date written YYYY-MM-DD (``date.fromisoformat`` alone also takes 20261124 and
    2026-W48-2, which name no stored day)."""
    try:
        return bool(_DATE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


def checked_day(day: str) -> str:
    """``day`` when it is a real YYYY-MM-DD date, else :class:`BadInputError`."""
    if not is_day(day):
        raise BadInputError(f"date: expected YYYY-MM-DD, got {day!r}")
    return day


def checked_hospital(config: Config, hospital: str) -> str:
    """``hospital`` when it is configured (else :class:`BadInputError`) and the token may act for it (else
    :class:`OutOfScopeError`)."""
    if config.hospital(hospital) is None:
        raise BadInputError(f"hospital: unknown hospital {hospital!r}")
    require_hospital(hospital)
    return hospital


@dataclass(frozen=True)
class ListingFilter:
    """What a listing asks for (``?date=&hospital=&department=``, each optional), checked."""

    day: str | None
    hospital: str | None
    department: str | None

    @classmethod
    def of_request(cls, config: Config) -> ListingFilter:
        """The request's filter; a malformed date or an unknown hospital is a :class:`BadInputError`, another
        hospital than the token's an :class:`OutOfScopeError`."""
        day = request.args.get("date") or None
        hospital = request.args.get("hospital") or None
        return cls(
            checked_day(day) if day is not None else None,
            checked_hospital(config, hospital) if hospital is not None else None,
            request.args.get("department") or None,
        )


class StaffRoutes:
    """The staff API's endpoints over one :class:`StaffDesk`."""

    def __init__(self, desk: StaffDesk) -> None:
        self.desk = desk

    def list_appointments(self) -> Any:
        """Appointments, filtered by any of date, hospital and department."""
        config = self.desk.config
        wanted = ListingFilter.of_request(config)
        found = self.desk.store.listing(day=wanted.day, hospital=wanted.hospital, department=wanted.department)
        token = staff_token()
        # without a hospital filter, a scoped token lists its own hospitals' appointments and nothing else
        return {"appointments": [appointment_json(config, a) for a in found if token.may_act_for(a.hospital)]}

    def list_waitlist(self) -> Any:
        """Waitlist entries (候补), filtered by any of date, hospital and department; a scoped token sees its own."""
        wanted = ListingFilter.of_request(self.desk.config)
        token = staff_token()
        found = self.desk.waitlist.listing(day=wanted.day, hospital=wanted.hospital, department=wanted.department)
        return {
            "entries": [
                waitlist_json(self.desk.config, entry, position)
                for entry, position in found
                if token.may_act_for(entry.hospital)
            ]
        }

    def appointment_in_scope(self, serial: str) -> Appointment:
        """The appointment of this serial (404 if none), if the token may act for its hospital (else 403)."""
        appointment = self.desk.store.require(serial)
        require_hospital(appointment.hospital)
        return appointment

    def checkin(self, serial: str) -> Any:
        """Mark attended."""
        appointment = self.appointment_in_scope(serial)
        return appointment_json(self.desk.config, self.desk.standing.checkin(appointment.serial, actor()))

    def waive(self, serial: str) -> Any:
        """Waive a no-show (or a late cancellation's violation)."""
        appointment = self.appointment_in_scope(serial)
        return appointment_json(self.desk.config, self.desk.standing.waive(appointment.serial, actor()))

    def standing(self, serial: str) -> Any:
        """The standing of the patient of an appointment."""
        appointment = self.appointment_in_scope(serial)
        found = self.desk.standing.standing(appointment.pid)
        return {
            "no_shows_this_year": found.no_shows_this_year,
            "suspended_until": found.suspended_until.isoformat() if found.suspended_until else None,
        }

    def import_schedule(self) -> Any:
        """Import a schedule CSV (the body): all rows or none."""
        if request.content_length is not None and request.content_length > MAX_SCHEDULE_BYTES:
            return error(413, f"schedule larger than {MAX_SCHEDULE_BYTES // (1024 * 1024)} MiB")
        try:
            text = request.get_data(cache=False).decode("utf-8-sig")
        except UnicodeDecodeError:
            return error(400, "the schedule must be UTF-8 CSV text")
        try:
            rows = parse_schedule_csv(text, self.desk.config)
            token = staff_token()
            foreign = [row for row in rows if not token.may_act_for(row.hospital)]
            if foreign:
                raise OutOfScopeError((row.hospital for row in foreign), (row.line for row in foreign))
            result = self.desk.schedule.import_rows(rows, actor=actor())
        except ScheduleImportError as exc:
            return jsonify(exc.to_json()), 400
        return {"slots": result.accepted}

    def create_broadcast(self) -> Any:
        """Notify (and with ``cancel``, cancel by the hospital) every appointment booked there: queued."""
        body = json_object()
        broadcasts = self.desk.broadcasts
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

    def lottery(self) -> Any:
        """Who registered for the release lottery of a hospital's date (names masked), whether each was entered and
        drawn, their position in the draw, and the audited seed once drawn (RULES §12)."""
        day = checked_day(request.args.get("date") or "")
        hospital = checked_hospital(self.desk.config, request.args.get("hospital") or "")
        return self.desk.lottery.view(hospital, day, request.args.get("department") or None)

    def broadcast_progress(self, broadcast_id: str) -> Any:
        """How far a broadcast got."""
        progress = self.desk.broadcasts.get(broadcast_id)
        require_hospital(progress.hospital)
        return progress.to_json()


def staff_blueprint(desk: StaffDesk) -> Blueprint:
    """``/api/staff/...`` over ``desk``: every call authenticated, every error a JSON answer."""
    blueprint = Blueprint("staff_api", __name__, url_prefix="/api/staff")
    blueprint.before_request(lambda: authenticate(desk.config.security.staff_tokens))
    blueprint.register_error_handler(OutOfScopeError, out_of_scope)
    blueprint.register_error_handler(BadInputError, bad_input)
    blueprint.register_error_handler(NotFoundError, not_found)
    blueprint.register_error_handler(InvalidRequestError, conflict)
    routes = StaffRoutes(desk)
    views: list[tuple[str, str, Callable[..., Any]]] = [
        ("GET", "/appointments", routes.list_appointments),
        ("POST", "/appointments/<serial>/checkin", routes.checkin),
        ("POST", "/appointments/<serial>/waive", routes.waive),
        ("GET", "/patients/<serial>/standing", routes.standing),
        ("POST", "/schedule", routes.import_schedule),
        ("POST", "/broadcasts", routes.create_broadcast),
        ("GET", "/broadcasts/<broadcast_id>", routes.broadcast_progress),
        ("GET", "/lottery", routes.lottery),
        ("GET", "/waitlist", routes.list_waitlist),
    ]
    for method, rule, view in views:
        blueprint.add_url_rule(rule, view.__name__, view, methods=[method])
    return blueprint
