"""When to remind a patient of an appointment (seeds 000, 001 §7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from .cancellation import cancel_deadline
from .dates import local_date, require_aware
from .model import SlotFacts
from .policy import Policy


class ReminderKind(StrEnum):
    """The opt-out-able reminders; job ids are reminder:<serial>:<kind>."""

    window_end = "window_end"  # end of the free-cancellation window: "cannot come? cancel before ..."
    day_before = "day_before"  # the day before: time, place, check-in instructions
    before_start = "before_start"  # shortly before the slot


def reminder_times(policy: Policy, slot: SlotFacts, booked_at: datetime) -> dict[ReminderKind, datetime]:
    """When each reminder is due for `slot` booked at `booked_at`; reminders already due are left out."""
    require_aware("booked_at", booked_at)
    tz = policy.tz
    day_before = local_date(slot.start, tz) - timedelta(days=1)
    due = {
        ReminderKind.window_end: cancel_deadline(policy, slot) - timedelta(hours=policy.reminder_before_deadline_hours),
        ReminderKind.day_before: datetime.combine(day_before, policy.reminder_day_before_clock, tzinfo=tz),
        ReminderKind.before_start: slot.start - timedelta(hours=policy.reminder_before_start_hours),
    }
    return {kind: at for kind, at in due.items() if at > booked_at}
