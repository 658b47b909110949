"""The calendar link of an appointment (SPEC §7): ``<server.calendar_base_url>/calendar/<token>.ics``.

The token is random (96 bits, URL-safe), made the first time a confirmation asks for it and kept for the
appointment (``calendar_link.lua``: made once, whoever asks first); it is never derived from the serial, so a link
cannot be guessed from another. At rest it is encrypted under the appointment and found back by a keyed hash; both
expire :data:`KEPT_AFTER_VISIT` after the visit. No base URL configured: no link (confirmations say nothing of it).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import redis

from bot.config import Config
from bot.crypto import SecretBox
from bot.records import Appointment, local_moment
from bot.records import text as decoded
from bot.storage import keys
from bot.storage.scripts import Scripts

KEPT_AFTER_VISIT = timedelta(days=30)
TOKEN_BYTES = 12
PATH = "/calendar/{token}.ics"
_CONTEXT = "calendar.token"


class CalendarLinks:
    """Calendar tokens of appointments: made once, looked up by token."""

    def __init__(self, redis_client: redis.Redis, box: SecretBox, config: Config) -> None:
        self._redis = redis_client
        self._box = box
        self._config = config
        self._base = config.server.calendar_base_url.rstrip("/")
        self._scripts = Scripts(redis_client, "calendar_link")

    def _hash(self, token: str) -> str:
        return self._box.lookup_hash(token, kind="calendar")

    def token_for(self, appointment: Appointment) -> str:
        """The appointment's token (made now if it has none)."""
        hospital = self._config.hospital(appointment.hospital)
        tz = (hospital.policy if hospital else self._config.policy).tz
        until = local_moment(appointment.date, appointment.end, tz) + KEPT_AFTER_VISIT
        token = secrets.token_urlsafe(TOKEN_BYTES)
        stored = self._scripts.run(
            "calendar_link",
            [keys.calendar_link(appointment.serial), keys.calendar_token(self._hash(token))],
            [self._box.encrypt(token, context=_CONTEXT), appointment.serial, int(until.timestamp())],
        )
        return self._box.decrypt(decoded(stored), context=_CONTEXT)

    def url_for(self, appointment: Appointment) -> str | None:
        """The link patients are given, or None when ``server.calendar_base_url`` is not set."""
        if not self._base:
            return None
        return self._base + PATH.format(token=self.token_for(appointment))

    def serial_of(self, token: str) -> str | None:
        """The serial a token opens, or None (unknown, expired, or not a token at all)."""
        if not token or len(token) > 64:
            return None
        found = self._redis.get(keys.calendar_token(self._hash(token)))
        return decoded(found) if found else None
