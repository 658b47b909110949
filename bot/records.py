"""Typed views of the slot and appointment hashes (``bot.storage.keys``), and their conversion to ``rules`` facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

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


@dataclass(frozen=True)
class Slot:
    """One slot (号源) as stored."""

    id: str
    hospital: str
    department: str
    doctor: str
    doctor_name: str
    level: rules.FeeClass
    date: str
    start: str
    end: str
    capacity: int
    fee_cents: int
    taken: int
    status: str
    doctor_name_en: str = ""

    @property
    def places_left(self) -> int:
        """Places still for sale (never negative)."""
        return max(self.capacity - self.taken, 0) if self.status == "open" else 0

    @classmethod
    def from_hash(cls, slot_key_id: str, raw: RawHash) -> Slot:
        """Build from the ``keys.slot`` hash."""
        h = decode_hash(raw)
        return cls(
            id=slot_key_id,
            hospital=h.get("hospital", ""),
            department=h.get("department", ""),
            doctor=h.get("doctor", ""),
            doctor_name=h.get("doctor_name", ""),
            level=rules.FeeClass(h.get("level", "general")),
            date=h.get("date", ""),
            start=h.get("start", ""),
            end=h.get("end", ""),
            capacity=int(h.get("capacity", "0")),
            fee_cents=int(h.get("fee_cents", "0")),
            taken=int(h.get("taken", "0")),
            status=h.get("status", "open"),
            doctor_name_en=h.get("doctor_name_en", ""),
        )

    def facts(self, tz: ZoneInfo) -> rules.SlotFacts:
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


@dataclass(frozen=True)
class Appointment:
    """One appointment as stored (no personal data in clear: the patient is a pid, the name masked)."""

    serial: str
    slot: str
    hospital: str
    department: str
    doctor: str
    doctor_name: str
    level: rules.FeeClass
    date: str
    start: str
    end: str
    fee_cents: int
    queue_no: int
    status: rules.AppointmentStatus
    pid: str
    acct: str
    channel: str
    patient_name_masked: str
    booked_at: datetime
    cancelled_at: datetime | None
    refund_cents: int | None
    checked_in_at: datetime | None

    @classmethod
    def from_hash(cls, raw: RawHash) -> Appointment:
        """Build from the ``keys.appointment`` hash."""
        h = decode_hash(raw)

        def moment(name: str) -> datetime | None:
            text = h.get(name, "")
            return datetime.fromisoformat(text) if text else None

        refund = h.get("refund_cents", "")
        booked_at = moment("booked_at")
        if booked_at is None:
            raise ValueError("appointment without booked_at")
        return cls(
            serial=h.get("serial", ""),
            slot=h.get("slot", ""),
            hospital=h.get("hospital", ""),
            department=h.get("department", ""),
            doctor=h.get("doctor", ""),
            doctor_name=h.get("doctor_name", ""),
            level=rules.FeeClass(h.get("level", "general")),
            date=h.get("date", ""),
            start=h.get("start", ""),
            end=h.get("end", ""),
            fee_cents=int(h.get("fee_cents", "0")),
            queue_no=int(h.get("queue_no", "0")),
            status=rules.AppointmentStatus(h.get("status", "")),
            pid=h.get("pid", ""),
            acct=h.get("acct", ""),
            channel=h.get("channel", ""),
            patient_name_masked=h.get("patient_name_masked", ""),
            booked_at=booked_at,
            cancelled_at=moment("cancelled_at"),
            refund_cents=int(refund) if refund else None,
            checked_in_at=moment("checked_in_at"),
        )

    def slot_facts(self, tz: ZoneInfo) -> rules.SlotFacts:
        """The facts of the slot this appointment holds."""
        return rules.SlotFacts(
            hospital=self.hospital,
            department=self.department,
            doctor=self.doctor,
            fee_class=self.level,
            fee_cents=self.fee_cents,
            start=local_moment(self.date, self.start, tz),
            end=local_moment(self.date, self.end, tz),
        )

    def facts(self, tz: ZoneInfo) -> rules.AppointmentFacts:
        """What ``rules`` needs to know of this appointment."""
        return rules.AppointmentFacts(
            serial=self.serial, slot=self.slot_facts(tz), status=self.status, booked_at=self.booked_at
        )
