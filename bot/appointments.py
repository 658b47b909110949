"""Appointments as stored: reads, listings, and the one atomic status transition every change goes through.

Booking (``bot.booking``) creates appointments; cancellation, check-in, no-shows and waivers all move an
appointment from one status to another with ``transition.lua``, which also frees the place, records a violation
or a waiver, bumps the patient's version and appends to the audit trail in the same step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import redis

import rules
from bot.clock import Clock
from bot.config import Config
from bot.errors import InvalidRequestError, NotFoundError
from bot.records import Appointment, text
from bot.storage import keys
from bot.storage.scripts import Scripts

Status = rules.AppointmentStatus


def violation_score(visit_date: str, policy: rules.Policy) -> int:
    """The score of a violation: the epoch seconds of the visit date's local midnight."""
    return int(datetime.combine(date.fromisoformat(visit_date), datetime.min.time(), tzinfo=policy.tz).timestamp())


@dataclass(frozen=True)
class Transition:
    """One status change and its side effects (see ``transition.lua``)."""

    allowed_from: Sequence[Status]
    to: Status
    action: str
    release_place: bool = False
    violation: bool = False
    waive: bool = False


class AppointmentStore:
    """Reads appointments and applies status transitions; shared by the booking and standing services."""

    def __init__(self, redis_client: redis.Redis, config: Config, clock: Clock) -> None:
        self.redis = redis_client
        self.config = config
        self.clock = clock
        self._scripts = Scripts(redis_client, "transition")

    def policy_for(self, hospital: str) -> rules.Policy:
        """The policy of a hospital (its overrides), else the platform's."""
        found = self.config.hospital(hospital)
        return found.policy if found is not None else self.config.policy

    def stamp(self, moment: datetime | None = None) -> str:
        """A timestamp as stored: ISO 8601 in the platform's zone, with its offset."""
        return (moment or self.clock.now()).astimezone(self.config.policy.tz).isoformat(timespec="seconds")

    def get(self, serial: str) -> Appointment | None:
        """The appointment with this serial, if any."""
        raw = self.redis.hgetall(keys.appointment(serial))
        return Appointment.from_hash(raw) if raw else None

    def require(self, serial: str) -> Appointment:
        """The appointment with this serial, or ``NotFoundError``."""
        found = self.get(serial.strip()) if serial.strip().isdigit() else None
        if found is None:
            raise NotFoundError(f"no appointment with serial {serial!r}")
        return found

    def many(self, serials: Iterable[Any]) -> list[Appointment]:
        """The appointments of these serials, in the same order, in one round trip (missing ones skipped)."""
        pipe = self.redis.pipeline(transaction=False)
        for serial in map(text, serials):
            pipe.hgetall(keys.appointment(serial))
        return [Appointment.from_hash(raw) for raw in pipe.execute() if raw]

    def of_patient(self, pid: str) -> list[Appointment]:
        """Every appointment of a patient, oldest booking first."""
        return self.many(self.redis.zrange(keys.patient_appointments(pid), 0, -1))

    def listing(
        self, *, day: str | None = None, hospital: str | None = None, department: str | None = None
    ) -> list[Appointment]:
        """The staff listing: every filter optional; ordered by date, start, hospital, department, queue."""
        serials: Iterable[Any] = (
            self.redis.smembers(keys.date_appointments(day)) if day else self.redis.zrange(keys.ALL_APPOINTMENTS, 0, -1)
        )
        found = [
            a
            for a in self.many(serials)
            if (hospital is None or a.hospital == hospital) and (department is None or a.department == department)
        ]
        return sorted(found, key=lambda a: (a.date, a.start, a.hospital, a.department, a.doctor, a.queue_no))

    def transition(
        self,
        appointment: Appointment,
        change: Transition,
        actor: str,
        *,
        detail: str = "",
        fields: dict[str, str] | None = None,
    ) -> Appointment:
        """Apply ``change`` atomically if the appointment is still in an allowed status."""
        policy = self.policy_for(appointment.hospital)
        waiting = change.release_place and rules.waiting_open(
            policy, appointment.slot_facts(policy.tz), self.clock.now()
        )
        args: list[str | int] = [
            ",".join(change.allowed_from),
            change.to.value,
            "1" if change.release_place else "0",
            "1" if change.violation else "0",
            violation_score(appointment.date, policy),
            "1" if change.waive else "0",
            actor,
            self.stamp(),
            change.action,
            detail,
            "1" if waiting else "0",  # a released place goes to the slot's waiters (RULES §10)
            appointment.slot,
        ]
        for name, value in (fields or {}).items():
            args += [name, value]
        result = self._scripts.run(
            "transition",
            keys=[
                keys.appointment(appointment.serial),
                keys.slot(appointment.slot),
                keys.patient_version(appointment.pid),
                keys.NO_SHOW_DUE,
                keys.AUDIT,
                keys.patient_violations(appointment.pid),
                keys.patient_waived(appointment.pid),
                keys.waitlist_queue(appointment.slot),
                keys.WAITLIST_PENDING,
            ],
            args=args,
        )
        outcome = text(result[0])
        if outcome == "missing":
            raise NotFoundError(f"no appointment with serial {appointment.serial!r}")
        if outcome == "wrong_status":
            current = text(result[1])
            raise InvalidRequestError(f"appointment {appointment.serial} is already {current}")
        return self.require(appointment.serial)
