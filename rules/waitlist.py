"""The waitlist (候补, RULES §10): who may join, how long a freed place is held, when waiting ends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .cancellation import cancel_deadline
from .dates import require_aware
from .model import Decision, SlotFacts
from .policy import Policy


def waiting_ends(policy: Policy, slot: SlotFacts) -> datetime:
    """Waiting for ``slot`` ends at its cancellation deadline: places freed later are left to the hospital's desk."""
    return cancel_deadline(policy, slot)


def waiting_open(policy: Policy, slot: SlotFacts, now: datetime) -> bool:
    """Whether a freed place of ``slot`` still goes to its waiters at ``now``."""
    require_aware("now", now)
    return now < waiting_ends(policy, slot)


def hold_until(policy: Policy, slot: SlotFacts, now: datetime) -> datetime | None:
    """Until when a place offered at ``now`` is held (cut to the slot's deadline); None once waiting has ended."""
    if not waiting_open(policy, slot, now):
        return None
    return min(now + timedelta(minutes=policy.waitlist_hold_minutes), waiting_ends(policy, slot))


def check_join(
    policy: Policy,
    booking: Decision,
    slot: SlotFacts,
    waiting_for: Sequence[SlotFacts],
    now: datetime,
) -> Decision:
    """May a patient wait for ``slot`` at ``now``, given the booking rules' answer and the slots already waited for?"""
    # Refusals: waitlist_closed (the slot's deadline passed), waitlist_already, waitlist_max
    # (``waitlist_max_entries`` already), then the booking rule that refused (§3, §5; places left aside).
    if not waiting_open(policy, slot, now):
        return Decision.refuse("waitlist_closed", waiting_ends(policy, slot))
    if any(other.same_place_and_time(slot) for other in waiting_for):
        return Decision.refuse("waitlist_already")
    if len(waiting_for) >= policy.waitlist_max_entries:
        return Decision.refuse("waitlist_max", detail=f"at most {policy.waitlist_max_entries} at once")
    return booking


def check_claim(booking: Decision, held_until: datetime, now: datetime) -> Decision:
    """May the waiter offered a place take it at ``now``? In time, and every booking rule passes again."""
    require_aware("now", now)
    if now >= held_until:
        return Decision.refuse("offer_expired", held_until)
    return booking
