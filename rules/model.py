"""Frozen facts the rules decide on, and the Decision they return."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from .dates import require_aware


class FeeClass(StrEnum):
    """Fee class of a slot; decides the refund table (seed 001 §3)."""

    general = "general"  # 普通挂号费
    expert = "expert"  # 专家诊查费
    special = "special"  # 特需医疗


class AppointmentStatus(StrEnum):
    """Life cycle of an appointment, stored as readable strings."""

    booked = "booked"
    cancelled = "cancelled"  # cancelled in time: frees the quota
    cancelled_late = "cancelled_late"  # accepted after the deadline (allow_with_violation): still counts
    cancelled_by_hospital = "cancelled_by_hospital"  # 停诊: frees the quota, never a violation
    attended = "attended"
    no_show = "no_show"
    no_show_waived = "no_show_waived"  # staff waived the no-show; the appointment still counted as made

    @property
    def counts_toward_limits(self) -> bool:
        """Whether the appointment uses a place in the per-patient limits (all but timely cancellations)."""
        return self not in (AppointmentStatus.cancelled, AppointmentStatus.cancelled_by_hospital)

    @property
    def is_cancelled(self) -> bool:
        """Whether the appointment was cancelled, in time or not, by anyone."""
        return self in (
            AppointmentStatus.cancelled,
            AppointmentStatus.cancelled_late,
            AppointmentStatus.cancelled_by_hospital,
        )


@dataclass(frozen=True)
class SlotFacts:
    """A bookable slot (号源): where, who, what it costs, when (aware datetimes)."""

    hospital: str
    department: str
    doctor: str  # may be empty for a general clinic without a named doctor
    fee_class: FeeClass
    fee_cents: int
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        require_aware("start", self.start)
        require_aware("end", self.end)
        if self.end <= self.start:
            raise ValueError(f"slot end {self.end} must be after its start {self.start}")
        if self.fee_cents < 0:
            raise ValueError(f"fee_cents must not be negative, got {self.fee_cents}")

    def same_place_and_time(self, other: SlotFacts) -> bool:
        """Whether both describe the same slot (hospital, department, doctor, start)."""
        return (self.hospital, self.department, self.doctor, self.start) == (
            other.hospital,
            other.department,
            other.doctor,
            other.start,
        )


@dataclass(frozen=True)
class AppointmentFacts:
    """An existing appointment of the patient."""

    serial: str
    slot: SlotFacts
    status: AppointmentStatus
    booked_at: dt.datetime

    def __post_init__(self) -> None:
        require_aware("booked_at", self.booked_at)


@dataclass(frozen=True)
class NoShowFacts:
    """A no-show (爽约) of the patient on the visit date `date`; `waived` by staff with proof."""

    serial: str
    date: dt.date
    waived: bool = False


@dataclass(frozen=True)
class Decision:
    """The answer of a rule: allowed, or the stable code of the rule that refused and when to retry."""

    allowed: bool
    rule: str | None = None
    retry_after: dt.datetime | None = None
    detail: str | None = None

    @classmethod
    def ok(cls) -> Decision:
        """An allowing decision."""
        return cls(True)

    @classmethod
    def refuse(cls, rule: str, retry_after: dt.datetime | None = None, detail: str | None = None) -> Decision:
        """A refusing decision naming `rule`."""
        return cls(False, rule, retry_after, detail)
