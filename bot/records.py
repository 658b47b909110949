"""Typed views of the slot and appointment hashes (``bot.storage.keys``), and their conversion to ``rules`` facts.

The stored field names of a slot are declared once, here (:class:`SlotPart`, :class:`Slot`); the schedule import,
its Lua script and the readers follow them (:data:`SCHEDULED_FIELDS`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, TypeAdapter
from pydantic.dataclasses import dataclass as checked_dataclass

import rules

SLOT_ID_SEPARATOR = "|"


def slot_id(hospital: str, department: str, doctor: str, day: str, start: str) -> str:
    """The id of a slot: where, who and when (ids never contain the separator)."""
    return SLOT_ID_SEPARATOR.join((hospital, department, doctor, day, start))


def local_moment(day: str, clock: str, tz: ZoneInfo) -> datetime:
    """An aware datetime from a ``YYYY-MM-DD`` date and an ``HH:MM`` time in the hospital's zone."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=tz)


RawHash = Mapping[Any, Any]
"""A hash as redis-py returns it: bytes or str keys and values, depending on the client."""


def text(value: Any) -> str:
    """A Redis reply item as ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_hash(raw: RawHash) -> dict[str, str]:
    """A Redis hash as ``str`` to ``str``, whether the client decodes responses or not (on every hot path)."""
    return {
        (k.decode() if type(k) is bytes else k): (v.decode() if type(v) is bytes else v)  # inline: no call per item
        for k, v in raw.items()
    }


def texts_or_empty(stored: Mapping[str, str], *names: str) -> dict[str, str]:
    """The named fields of a decoded hash, ``""`` for each one it lacks."""
    return {name: stored.get(name, "") for name in names}


def _none_if_empty(value: Any) -> Any:
    return None if value == "" else value


def _moment(value: Any) -> Any:
    """A stored ISO moment (``datetime.fromisoformat``: the zone stays the one written), "" for none."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else _none_if_empty(value)


Moment = Annotated[datetime | None, BeforeValidator(_moment)]
Cents = Annotated[int | None, BeforeValidator(_none_if_empty)]


# hash values are text: pydantic's lax mode reads "30" as 30 and "general" as FeeClass.general; fields a hash lacks
# take their defaults; fields it has beyond these (next_queue…) are ignored
@checked_dataclass(frozen=True, kw_only=True)
class SlotPart:
    """The slot part of a slot hash and of an appointment hash: the stored field names, declared once."""

    hospital: str = ""
    department: str = ""
    doctor: str = ""
    doctor_name: str = ""
    level: rules.FeeClass = rules.FeeClass.general
    date: str = ""
    start: str = ""
    end: str = ""
    fee_cents: int = 0

    def slot_facts(self, tz: ZoneInfo) -> rules.SlotFacts:
        """What ``rules`` needs to know of this slot."""
        return rules.SlotFacts(
            hospital=self.hospital,
            department=self.department,
            doctor=self.doctor,
            fee_class=self.level,
            fee_cents=self.fee_cents,
            start=local_moment(self.date, self.start, tz),
            end=local_moment(self.date, self.end, tz),
        )


@checked_dataclass(frozen=True, kw_only=True)
class Slot(SlotPart):
    """One slot (号源) as stored (``keys.slot``, the id being the key's)."""

    id: str
    capacity: int = 0
    taken: int = 0
    status: str = "open"
    doctor_name_en: str = ""
    wl_free: int = 0  # places freed for the waitlist, not yet offered (bot.waitlist)
    wl_held: int = 0  # places held for a waiter offered one

    @property
    def places_left(self) -> int:
        """Places still for sale (never negative): a place freed for, or held by, the waitlist is not."""
        return max(self.capacity - self.taken - self.wl_free - self.wl_held, 0) if self.status == "open" else 0

    @classmethod
    def from_hash(cls, slot_key_id: str, raw: RawHash) -> Slot:
        """Build from the ``keys.slot`` hash."""
        return _SLOT.validate_python({**decode_hash(raw), "id": slot_key_id})

    def facts(self, tz: ZoneInfo) -> rules.SlotFacts:
        """What ``rules`` needs to know of this slot."""
        return self.slot_facts(tz)


SLOT_PART_FIELDS = tuple(f.name for f in fields(SlotPart))
"""The stored names of the slot part, in declaration order (an appointment copies them from its slot)."""
SCHEDULED_FIELDS = tuple(f.name for f in fields(Slot) if f.name not in ("id", "taken", "status", "wl_free", "wl_held"))
"""What a schedule import writes into a slot hash, in this order (``import_slots.lua`` lists the same names);
``taken`` and ``status`` belong to booking and staff, the id is the key's."""


@checked_dataclass(frozen=True, kw_only=True)
class Appointment(SlotPart):
    """One appointment as stored (no personal data in clear: the patient is a pid, the name masked)."""

    serial: str = ""
    slot: str = ""
    queue_no: int = 0
    status: rules.AppointmentStatus
    pid: str = ""
    acct: str = ""
    channel: str = ""
    patient_name_masked: str = ""
    booked_at: Annotated[datetime, BeforeValidator(_moment)]
    cancelled_at: Moment = None
    refund_cents: Cents = None
    checked_in_at: Moment = None

    @classmethod
    def from_hash(cls, raw: RawHash) -> Appointment:
        """Build from the ``keys.appointment`` hash (a ``ValueError`` when it lacks ``booked_at`` or ``status``)."""
        return _APPOINTMENT.validate_python(decode_hash(raw))

    def facts(self, tz: ZoneInfo) -> rules.AppointmentFacts:
        """What ``rules`` needs to know of this appointment."""
        return rules.AppointmentFacts(
            serial=self.serial, slot=self.slot_facts(tz), status=self.status, booked_at=self.booked_at
        )


_SLOT = TypeAdapter(Slot)
_APPOINTMENT = TypeAdapter(Appointment)
