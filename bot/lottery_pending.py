"""The registrations an account made in release lotteries not drawn yet (SPEC §8 "Release rush"): what 我的预约
lists beside the appointments, with when the results come.

A draw waiting for its end or its telling is a member of ``keys.LOTTERY_DUE`` (``<hospital>|<date>``); the patients
an account entered into it are ``keys.lottery_account``, their registrations the fields ``<pid>|<slot id>`` of
``keys.lottery_entries``. Three round trips whatever the number of draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from bot.records import text
from bot.storage import keys


@dataclass(frozen=True)
class PendingRegistration:
    """One patient's registration for one slot in a draw not drawn yet; results once the window ends."""

    pid: str
    slot_id: str
    results_at: datetime


def pending_registrations(client: redis.Redis, acct: str) -> list[PendingRegistration]:
    """The account's registrations in draws not drawn yet, soonest result first (then slot, patient)."""
    draws = [text(member).partition("|") for member in client.zrange(keys.LOTTERY_DUE, 0, -1)]
    pipe = client.pipeline(transaction=False)
    for hospital, _, day in draws:
        pipe.hmget(keys.lottery(hospital, day), ["drawn_at", "window_end"])
        pipe.smembers(keys.lottery_account(hospital, day, acct))
    read = pipe.execute()
    waiting: list[tuple[str, str, datetime, set[str]]] = []
    for (hospital, _, day), (drawn_at, window_end), pids in zip(draws, read[::2], read[1::2], strict=True):
        if drawn_at is None and window_end is not None and pids:
            ends = datetime.fromtimestamp(float(text(window_end)), UTC)
            waiting.append((hospital, day, ends, {text(pid) for pid in pids}))
    for hospital, day, _, _ in waiting:
        pipe.hkeys(keys.lottery_entries(hospital, day))
    found = []
    for (_, _, ends, pids), fields in zip(waiting, pipe.execute() if waiting else [], strict=True):
        for field in map(text, fields):
            pid, _, slot_id = field.partition("|")
            if pid in pids:
                found.append(PendingRegistration(pid, slot_id, ends))
    return sorted(found, key=lambda r: (r.results_at, r.slot_id, r.pid))
