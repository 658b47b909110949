"""``GET /calendar/<token>.ics``: the calendar file of the appointment whose link this is (no login: the random
token is the key, :mod:`bot.calendar_links`); an unknown or expired token is a 404 that says nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Blueprint, Response

from adapters.calendar.ics import appointment_calendar
from bot.appointments import AppointmentStore
from bot.calendar_links import CalendarLinks
from bot.config import Config

MEDIA_TYPE = "text/calendar"


class Languages(Protocol):
    """The language the booking account chose, if any (``PatientService``)."""

    def account_language(self, acct: str) -> str | None: ...


@dataclass(frozen=True)
class CalendarServices:
    """What the calendar endpoint reads."""

    config: Config
    links: CalendarLinks
    store: AppointmentStore
    languages: Languages


def calendar_blueprint(services: CalendarServices) -> Blueprint:
    """``/calendar/<token>.ics``."""
    blueprint = Blueprint("calendar", __name__)

    @blueprint.get("/calendar/<token>.ics")
    def calendar_file(token: str) -> Response:
        serial = services.links.serial_of(token)
        appointment = services.store.get(serial) if serial else None
        if appointment is None:
            return Response("no such calendar\n", status=404, mimetype="text/plain")
        lang = services.languages.account_language(appointment.acct) or "zh"
        body = appointment_calendar(appointment, services.config, lang)
        return Response(
            body,
            mimetype=MEDIA_TYPE,
            headers={
                "Content-Disposition": f'inline; filename="guahao-{appointment.serial}.ics"',
                "Cache-Control": "private, no-cache",
                "X-Robots-Tag": "noindex",
            },
        )

    return blueprint
