"""The release rush as a lottery (RULES §12): who is entered, in what order places are drawn, who gets one.

With ``release_mode = "lottery"``, a request for a visit date made within ``lottery_window_seconds`` after that
date's release time is an *entry*, not a booking. At the window's end the entrants are put in a random order drawn
from a seed (:func:`draw_order`: ``random.Random(seed)`` over the sorted entrant hashes, so anyone holding the seed
and the hashed entrants of the audit trail gets the same order), and each in turn gets a place
(:func:`allocate`): the first of their entries with a place left that the booking rules allow (limits applied in
draw order, ``rules.check_booking``), one place per patient per draw.

Anti-scalping (RULES §8) decides who is entered (:func:`screen`): one entry per patient per slot; an account enters
at most ``max_patients_per_account`` patients into one draw, and so does one phone (the patients whose verified phone
it is); a patient flagged by staff is not entered.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .dates import require_aware
from .model import AppointmentFacts, SlotFacts
from .policy import Policy
from .standing import Standing
from .window import release_at

LOTTERY = "lottery"
NOT_DRAWN = "not_drawn"
"""The reason of an entrant whose turn came when the places of their entries were gone."""
FLAGGED = "flagged"
ACCOUNT_LIMIT = "lottery_account_limit"
PHONE_LIMIT = "lottery_phone_limit"
HASH_LENGTH = 32
"""Hex digits of an entrant hash in the audit trail (128 bits: no two entrants of a draw share one)."""


def lottery_window(policy: Policy, visit_date: date) -> tuple[datetime, datetime] | None:
    """When requests for ``visit_date`` are entries of its draw (end excluded); None when first-come."""
    if policy.release_mode != LOTTERY:
        return None
    opens = release_at(policy, visit_date)
    return opens, opens + timedelta(seconds=policy.lottery_window_seconds)


def in_lottery_window(policy: Policy, visit_date: date, now: datetime) -> bool:
    """Whether a request made at ``now`` for ``visit_date`` is an entry of its draw rather than a booking."""
    require_aware("now", now)
    window = lottery_window(policy, visit_date)
    return window is not None and window[0] <= now < window[1]


def entrant_hash(draw: str, pid: str) -> str:
    """How an entrant appears in the audit trail: a hash of the draw and the patient (unlinkable across draws)."""
    return hashlib.sha256(f"{draw}|{pid}".encode()).hexdigest()[:HASH_LENGTH]


def draw_order(entrants: Iterable[str], seed: int) -> list[str]:
    """The entrants (hashes) in the order the draw with ``seed`` gives them places: reproducible by anyone."""
    order = sorted(set(entrants))
    random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class Entry:
    """One registration: patient, slot, the account that made it, the patient's phone (hashed), its number."""

    pid: str
    slot_id: str
    acct: str
    phone: str
    seq: int


def screen(entries: Sequence[Entry], limit: int, flagged: Iterable[str] = ()) -> tuple[list[Entry], dict[str, str]]:
    """The entries entered (registration order), and why each patient with none entered is not (anti-scalping)."""
    # one entry per patient per slot (the first); an account or a phone enters at most ``limit`` patients (those
    # registered first); a flagged patient is never entered. Reasons: flagged, lottery_account_limit,
    # lottery_phone_limit
    barred = set(flagged)
    entered: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    by_account: dict[str, set[str]] = {}
    by_phone: dict[str, set[str]] = {}
    reasons: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        account = by_account.setdefault(entry.acct, set())
        phone = by_phone.setdefault(entry.phone, set())
        if entry.pid in barred:
            reasons[entry.pid] = FLAGGED
        elif (entry.pid, entry.slot_id) in seen:
            continue
        elif entry.pid not in account and len(account) >= limit:
            reasons.setdefault(entry.pid, ACCOUNT_LIMIT)
        elif entry.pid not in phone and len(phone) >= limit:
            reasons.setdefault(entry.pid, PHONE_LIMIT)
        else:
            account.add(entry.pid)
            phone.add(entry.pid)
            seen.add((entry.pid, entry.slot_id))
            entered.append(entry)
    kept = {e.pid for e in entered}
    return entered, {pid: reason for pid, reason in reasons.items() if pid not in kept}


@dataclass(frozen=True)
class Outcome:
    """One entrant's draw: 1-based position, the entry that got a place or None and why (not_drawn, a rule)."""

    pid: str
    position: int
    entry: Entry | None
    reason: str = ""


@dataclass(frozen=True)
class Facts:
    """What the booking rules need of one entrant at the draw: their appointments and standing."""

    existing: Sequence[AppointmentFacts]
    standing: Standing


def allocate(
    policy: Policy,
    order: Sequence[str],
    entries: Sequence[Entry],
    slots: Mapping[str, SlotFacts],
    places: Mapping[str, int],
    facts: Mapping[str, Facts],
    now: datetime,
) -> list[Outcome]:
    """Give places in draw order (pids), one per patient, the booking rules applied in that order."""
    # each patient gets the first of their entries (registration order) with a place left that check_booking
    # allows; a refusal names its rule; a patient whose entries were all full by their turn was not_drawn
    from . import check_booking  # the package's whole "may this patient book?" (defined after its imports)

    by_patient: dict[str, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        by_patient.setdefault(entry.pid, []).append(entry)
    left = dict(places)
    outcomes: list[Outcome] = []
    for position, pid in enumerate(order, 1):
        won, refusals = None, []
        mine = facts[pid]
        for entry in by_patient.get(pid, []):
            if left.get(entry.slot_id, 0) <= 0:
                continue
            decision = check_booking(policy, mine.existing, slots[entry.slot_id], mine.standing, now)
            if not decision.allowed:
                refusals.append(decision.rule or "refused")
                continue
            left[entry.slot_id] -= 1
            won = entry
            break
        reason = "" if won is not None else (refusals[0] if refusals else NOT_DRAWN)
        outcomes.append(Outcome(pid, position, won, reason))
    return outcomes
