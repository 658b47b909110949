"""Cancellation: the deadline, whether a cancellation is timely, late or refused, and its refund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .dates import local_date, local_midnight, require_aware
from .model import FeeClass, SlotFacts
from .policy import Policy


class CancelOutcome(StrEnum):
    """What a cancellation request at a given moment amounts to."""

    timely = "timely"  # before the deadline: frees the quota, no violation
    late = "late"  # after the deadline but accepted (late_cancel = allow_with_violation): one violation
    refused = "refused"  # too late: the appointment stays


@dataclass(frozen=True)
class CancelTerms:
    """The terms stated to the patient before confirming a cancellation."""

    outcome: CancelOutcome
    deadline: datetime  # end of the free-cancellation window
    refund_cents: int
    violation: bool
    rule: str | None  # "cancel_deadline_passed" or "slot_started" when refused


def cancel_deadline(policy: Policy, slot: SlotFacts) -> datetime:
    """End of free cancellation: HH:MM on the day before the visit (24:00 = visit day 00:00), or the start."""
    minutes = policy.cancel_deadline_minutes
    if minutes is None:
        return slot.start
    tz = policy.tz
    day_before = local_date(slot.start, tz) - timedelta(days=1)
    day, minute_of_day = divmod(minutes, 24 * 60)
    deadline = local_midnight(day_before + timedelta(days=day), tz)
    return deadline.replace(hour=minute_of_day // 60, minute=minute_of_day % 60)


def _percent(cents: int, percent: int) -> int:
    """`percent` % of `cents`, rounded half up to whole cents."""
    return (cents * percent + 50) // 100


def refund_cents(policy: Policy, slot: SlotFacts, now: datetime) -> int:
    """Refund for cancelling at `now`, by fee class and time left before the start (seed 001 §3)."""
    require_aware("now", now)
    fee = slot.fee_cents
    if slot.fee_class is FeeClass.expert:
        if now <= slot.start - timedelta(hours=policy.expert_full_refund_hours):
            return fee
        return _percent(fee, 100 - policy.expert_deduction_percent)
    if slot.fee_class is FeeClass.special:
        if now <= slot.start - timedelta(days=policy.special_full_refund_days):
            return fee
        return _percent(fee, policy.special_refund_percent)
    return fee


def cancel_terms(policy: Policy, slot: SlotFacts, now: datetime) -> CancelTerms:
    """Whether the patient's cancellation at `now` is timely, late (a violation) or refused; its refund."""
    require_aware("now", now)
    deadline = cancel_deadline(policy, slot)
    if now < deadline:
        return CancelTerms(CancelOutcome.timely, deadline, refund_cents(policy, slot, now), False, None)
    started = now >= slot.start
    if policy.late_cancel == "allow_with_violation" and not started:
        return CancelTerms(CancelOutcome.late, deadline, refund_cents(policy, slot, now), True, None)
    rule = "slot_started" if started else "cancel_deadline_passed"
    return CancelTerms(CancelOutcome.refused, deadline, 0, False, rule)


def hospital_cancel_terms(slot: SlotFacts) -> CancelTerms:
    """A cancellation by the hospital (停诊): always full refund, never a violation; deadline = slot start."""
    return CancelTerms(CancelOutcome.timely, slot.start, slot.fee_cents, False, None)
