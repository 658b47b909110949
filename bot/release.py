"""Day releases (RULES: the booking window): record, once per hospital and date, that a visit date went on sale.

Nothing else needs doing for a day to open: the booking rules (``rules.check_window``) refuse a date before its
release time and accept it from then on, and imported slots are ``open``. This makes the release visible in the audit
trail (action ``day_released``, with the number of slots that went on sale) at the moment the deployment clock passes
it; the worker's periodic tick runs it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import redis

import rules
from bot.clock import Clock
from bot.config import Config
from bot.lottery import Lottery
from bot.storage import keys
from bot.storage.scripts import Scripts

RELEASE_TTL_S = int(timedelta(days=30).total_seconds())
"""How long a date is remembered as released (it has long left the booking window by then)."""


def release_days(redis_client: redis.Redis, config: Config, clock: Clock) -> int:
    """Record every visit date inside its hospital's booking window now that was not recorded yet; how many now."""
    scripts = Scripts(redis_client, "day_released")
    now = clock.now()
    recorded = 0
    for hospital in config.hospitals:
        at = now.astimezone(hospital.policy.tz).isoformat(timespec="seconds")
        for day in open_days(hospital.policy, now):
            slots = redis_client.zcard(keys.slots_of_day(hospital.id, day.isoformat()))
            recorded += int(
                scripts.run(
                    "day_released",
                    keys=[keys.day_released(hospital.id, day.isoformat()), keys.AUDIT],
                    args=[at, f"hospital={hospital.id} date={day.isoformat()} slots={slots}", RELEASE_TTL_S],
                )
            )
    return recorded


def run_lottery_draws(lottery: Lottery) -> int:
    """The release lottery's hook (RULES §12): draw every lottery whose window has ended, at most once each, and tell
    its registrants the outcome; how many were told now. Idempotent: a draw run again changes nothing."""
    return lottery.run_due()


def open_days(policy: rules.Policy, now: datetime) -> list[date]:
    """Every visit date inside a hospital's booking window at ``now``, first to last (none: an empty window)."""
    first, last = rules.booking_window(policy, now)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
