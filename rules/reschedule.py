"""Rescheduling (改约, RULES §11): until when it is allowed, the limits as if the old appointment did not exist, and
the fee difference stated before confirming."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .cancellation import cancel_deadline, refund_cents
from .dates import require_aware
from .model import AppointmentFacts, AppointmentStatus, Decision, SlotFacts
from .policy import Policy


@dataclass(frozen=True)
class FeeDifference:
    """What moving costs: the old and new fees, what is to pay on top, and what is refunded (in cents)."""

    old_cents: int
    new_cents: int
    to_pay_cents: int
    refund_cents: int

    @property
    def same(self) -> bool:
        """Nothing to pay and nothing refunded."""
        return self.to_pay_cents == 0 and self.refund_cents == 0


def others(existing: Sequence[AppointmentFacts], serial: str) -> list[AppointmentFacts]:
    """The patient's appointments without ``serial``: a move's limits are counted as if the old one did not exist."""
    return [a for a in existing if a.serial != serial]


def check_movable(old_policy: Policy, old: AppointmentFacts, now: datetime) -> Decision:
    """May ``old`` be moved at all at ``now``: still booked, and before its cancellation deadline?"""
    require_aware("now", now)
    if old.status is not AppointmentStatus.booked:
        return Decision.refuse("reschedule_not_booked", detail=old.status.value)
    deadline = cancel_deadline(old_policy, old.slot)
    if now >= deadline:
        return Decision.refuse("reschedule_deadline_passed", deadline)
    return Decision.ok()


def check_reschedule(
    old_policy: Policy, old: AppointmentFacts, new_slot: SlotFacts, booking: Decision, now: datetime
) -> Decision:
    """May ``old`` move to ``new_slot`` at ``now``, given the booking rules' answer counted over :func:`others`?"""
    # Refusals: reschedule_not_booked, reschedule_deadline_passed (the old appointment's cancellation deadline: a move
    # is not a cancellation and never a violation), reschedule_same_slot, then the booking rule that refused.
    movable = check_movable(old_policy, old, now)
    if not movable.allowed:
        return movable
    if old.slot.same_place_and_time(new_slot):
        return Decision.refuse("reschedule_same_slot")
    return booking


def fee_difference(old_policy: Policy, old: SlotFacts, new: SlotFacts, now: datetime) -> FeeDifference:
    """The fee difference of a move at ``now``: a dearer slot's is paid, a cheaper one's refunded per the old class."""
    # the refund of a cheaper slot: RULES §6 of the old fee class, applied to the difference
    difference = new.fee_cents - old.fee_cents
    if difference >= 0:
        return FeeDifference(old.fee_cents, new.fee_cents, difference, 0)
    as_cancelled = dataclasses.replace(old, fee_cents=-difference)
    return FeeDifference(old.fee_cents, new.fee_cents, 0, refund_cents(old_policy, as_cancelled, now))
