"""``GET /fhir/Schedule``, ``GET /fhir/Slot?start=ge…&start=lt…``, ``GET /fhir/Appointment?date=…`` (SPEC §7).

Read-only, with the staff API's tokens and scopes (``adapters.staff.api``: the same bearer check and the one guard
``require_hospital``): a token scoped to some hospitals sees only theirs, and asking about another one
(``hospital=``) is a 403. Answers are ``application/fhir+json``: a searchset Bundle, or an OperationOutcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fhir.resources.R4B.resource import Resource
from flask import Blueprint, Response, request

from adapters.fhir.resources import (
    appointment_resource,
    capability_statement,
    outcome,
    schedule_resource,
    searchset,
    slot_resource,
)
from adapters.staff.api import OutOfScopeError, authenticate, is_day, require_hospital, staff_token
from bot.appointments import AppointmentStore
from bot.clock import Clock
from bot.config import Config, Hospital
from bot.records import Slot
from bot.schedule import Schedule

MEDIA_TYPE = "application/fhir+json"


def package_version() -> str:
    """guahao's version, as the CapabilityStatement names it."""
    try:
        return version("guahao-bot")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


MAX_DAYS = 31
_BOUND = re.compile(r"(ge|lt)([0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class FhirServices:
    """What the facade reads: the configuration (tokens, names), the schedule, the appointments, the clock."""

    config: Config
    schedule: Schedule
    store: AppointmentStore
    clock: Clock


class SearchError(Exception):
    """A search the facade cannot answer (400): the message says what to send."""


def answer(resource: Resource, status: int = 200) -> Response:
    return Response(resource.model_dump_json(exclude_none=True), status=status, mimetype=MEDIA_TYPE)


def http_error(status: int, description: str) -> Response:
    """A routing error under ``/fhir/`` (no such resource type, a method not served) as an OperationOutcome."""
    code = {404: "not-found", 405: "not-supported"}.get(status, "exception")
    return answer(outcome(code, description), status)


class FhirFacade:
    """The three searches over :class:`FhirServices`."""

    def __init__(self, services: FhirServices) -> None:
        self.services = services

    # --- scope ---------------------------------------------------------------------------------------------
    def hospitals(self) -> list[Hospital]:
        """The hospitals of this search: the one asked for (if the token may act for it), else all it may."""
        asked = request.args.get("hospital") or None
        config = self.services.config
        if asked is not None:
            if config.hospital(asked) is None:
                raise SearchError(f"hospital: unknown hospital {asked!r}")
            require_hospital(asked)
        token = staff_token()
        return [h for h in config.hospitals if (asked is None or h.id == asked) and token.may_act_for(h.id)]

    def names(self, hospital: Hospital, department: str, doctor: str) -> tuple[str, str, str]:
        found = hospital.department(department)
        return hospital.name, found.name if found else department, doctor

    def slots_between(self, hospital: Hospital, first: date, last: date) -> Iterator[Slot]:
        """The slots of ``hospital`` from ``first`` to ``last`` (both included), by day then department."""
        schedule = self.services.schedule
        for day in schedule.dates(hospital.id):
            if first.isoformat() <= day <= last.isoformat():
                for department in schedule.departments_on(hospital.id, day):
                    yield from schedule.slots(hospital.id, department, day)

    # --- searches ------------------------------------------------------------------------------------------
    def schedules(self) -> list[Resource]:
        """A Schedule per doctor of a department with slots from today on, its horizon their first and last days."""
        found: list[Resource] = []
        for hospital in self.hospitals():
            today = self.services.clock.now().astimezone(hospital.policy.tz).date()
            days: dict[tuple[str, str], list[Slot]] = {}
            for slot in self.slots_between(hospital, today, date.max):
                days.setdefault((slot.department, slot.doctor), []).append(slot)
            for (department, doctor), slots in days.items():
                first, last = min(s.date for s in slots), max(s.date for s in slots)
                names = self.names(hospital, department, slots[0].doctor_name or doctor)
                found.append(schedule_resource(slots[0], names, (first, last), hospital.policy.tz))
        return found

    def slots(self) -> list[Resource]:
        """The Slots starting from the ``ge`` day up to (not including) the ``lt`` day."""
        first, end = slot_range(request.args.getlist("start"))
        found: list[Resource] = []
        for hospital in self.hospitals():
            for slot in self.slots_between(hospital, first, end - timedelta(days=1)):
                department = self.names(hospital, slot.department, "")[1]
                found.append(slot_resource(slot, department, hospital.policy.tz))
        return found

    def appointments(self) -> list[Resource]:
        """The Appointments of one visit date."""
        day = request.args.get("date", "")
        if not is_day(day):
            raise SearchError(f"date: expected YYYY-MM-DD, got {day!r}")
        found: list[Resource] = []
        for hospital in self.hospitals():
            for appointment in self.services.store.listing(day=day, hospital=hospital.id):
                names = self.names(hospital, appointment.department, appointment.doctor_name or appointment.doctor)
                found.append(appointment_resource(appointment, names, hospital.policy.tz))
        return found


def slot_range(bounds: list[str]) -> tuple[date, date]:
    """``["ge2026-11-24", "lt2026-11-25"]`` → the first day and the day after the last (at most 31 days)."""
    found: dict[str, date] = {}
    for bound in bounds:
        match = _BOUND.fullmatch(bound)
        if match is None or not is_day(match.group(2)) or match.group(1) in found:
            raise SearchError(f"start: expected start=geYYYY-MM-DD&start=ltYYYY-MM-DD, got {bound!r}")
        found[match.group(1)] = date.fromisoformat(match.group(2))
    if set(found) != {"ge", "lt"}:
        raise SearchError("start: expected both start=geYYYY-MM-DD and start=ltYYYY-MM-DD")
    if not 0 < (found["lt"] - found["ge"]).days <= MAX_DAYS:
        raise SearchError(f"start: the lt day must come after the ge day, at most {MAX_DAYS} days later")
    return found["ge"], found["lt"]


def fhir_blueprint(services: FhirServices) -> Blueprint:
    """``/fhir/Schedule``, ``/fhir/Slot``, ``/fhir/Appointment`` for staff tokens."""
    blueprint = Blueprint("fhir", __name__, url_prefix="/fhir")
    facade = FhirFacade(services)

    @blueprint.before_request
    def check_token() -> Any:
        if request.endpoint == "fhir.metadata":  # what the server can do is public, as FHIR servers have it
            return None
        refused = authenticate(services.config.security.staff_tokens)
        if refused is None:
            return None
        response = answer(outcome("login", "missing or invalid staff token"), 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="guahao staff"'
        return response

    @blueprint.errorhandler(SearchError)
    def bad_search(exc: SearchError) -> Response:
        return answer(outcome("invalid", str(exc)), 400)

    @blueprint.errorhandler(OutOfScopeError)
    def out_of_scope(exc: OutOfScopeError) -> Response:
        return answer(outcome("forbidden", str(exc)), 403)

    def bundle(resources: list[Resource]) -> Response:
        return answer(searchset(resources, request.url_root + "fhir/", request.url))

    @blueprint.get("/metadata")
    def metadata() -> Response:
        published = datetime.now(UTC).date().isoformat()  # the statement as of now (no Redis: it always answers)
        return answer(capability_statement("guahao", package_version(), request.url_root + "fhir", published))

    @blueprint.get("/Schedule")
    def schedule() -> Response:
        return bundle(facade.schedules())

    @blueprint.get("/Slot")
    def slot() -> Response:
        return bundle(facade.slots())

    @blueprint.get("/Appointment")
    def appointment() -> Response:
        return bundle(facade.appointments())

    return blueprint
