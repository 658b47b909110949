"""No-shows and suspensions (seeds 000, 002): recomputed from the facts, so a waiver lifts what it caused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import groupby

from .dates import add_months, local_date, require_aware
from .model import Decision, NoShowFacts
from .policy import Policy

__all__ = ["Standing", "add_months", "check_standing", "compute_standing"]


@dataclass(frozen=True)
class Standing:
    """A patient's booking rights: no-shows this calendar year and the suspension in force, if any."""

    no_shows_this_year: int
    suspended_until: date | None  # last day of the suspension (inclusive)
    reason: str | None  # "no_show" | "flagged"


def _suspensions(policy: Policy, dates: Sequence[date]) -> Iterator[tuple[date, date]]:
    """Every (first day, last day) suspension triggered by the counted no-show dates (sorted)."""
    tiers = dict(policy.no_show_tiers)
    if policy.no_show_window == "calendar_year":
        # Count restarts each 1 January; the no-show that reaches a tier count starts the suspension.
        counts = (n for _, year in groupby(dates, key=lambda d: d.year) for n, _ in enumerate(year, 1))
    else:
        # rolling_month: count the no-shows up to this one that lie within one month ending on its date.
        counts = (sum(1 for earlier in dates[: i + 1] if earlier > add_months(d, -1)) for i, d in enumerate(dates))
    for d, count in zip(dates, counts, strict=True):
        if count in tiers:
            yield d, add_months(d, tiers[count]) - timedelta(days=1)


def compute_standing(
    policy: Policy, no_shows: Sequence[NoShowFacts], now: datetime, *, flagged_until: date | None = None
) -> Standing:
    """Count non-waived no-shows and find the suspension in force today (the latest-ending one), or a flag."""
    require_aware("now", now)
    today = local_date(now, policy.tz)
    dates = sorted(n.date for n in no_shows if not n.waived)
    in_force = [until for start, until in _suspensions(policy, dates) if start <= today <= until]
    until = max(in_force, default=None)
    reason = "no_show" if until is not None else None
    if flagged_until is not None and flagged_until >= today and (until is None or flagged_until > until):
        until, reason = flagged_until, "flagged"
    this_year = sum(1 for d in dates if d.year == today.year)
    return Standing(this_year, until, reason)


def check_standing(standing: Standing, now: datetime, tz: tzinfo | None = None) -> Decision:
    """Refuse booking while suspended ("suspended", retry the day after) or flagged ("flagged", no retry)."""
    require_aware("now", now)
    # Dates are read in `tz` when given (check_booking passes the policy's), else in the zone of `now`.
    local = now if tz is None else now.astimezone(tz)
    until = standing.suspended_until
    if until is None or until < local.date():
        return Decision.ok()
    if standing.reason == "flagged":
        return Decision.refuse("flagged", detail=f"booking rights withdrawn until {until.isoformat()}")
    lifted = datetime.combine(until + timedelta(days=1), time(), tzinfo=local.tzinfo)
    return Decision.refuse("suspended", lifted, f"suspended for no-shows until {until.isoformat()}")
