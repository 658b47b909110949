"""What a process keeps of the schedule between messages: which slots a department has on a day, and their fixed
fields, valid while the schedule's version stays the same.

The schedule changes rarely (an import, a past day archived) and is read by every question of the booking dialog.
A version token (``keys.SCHEDULE_VERSION``) is written anew by each script that adds, changes or drops slots
(``import_slots.lua`` when the file changed anything, ``archive_slot.lua``); the dialog engine reads it with the
session in ``dialog_begin.lua`` (no round trip of its own) and pins it for the step (:func:`pinned`). While a
version is pinned, :class:`bot.schedule.Schedule` reads the structure here and only what decides a slot's places
(:data:`LIVE_FIELDS`) from Redis, in one script call (``slots_live.lua``) for a week's slots instead of two round
trips, none for the dates and departments on offer. Without a pinned version (the staff API, the worker) every
read goes to Redis as before.

A random token (not a counter) also changes when Redis lost its data and the schedule was imported again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bot.records import Slot

LIVE_FIELDS = ("taken", "wl_free", "wl_held", "status", "capacity")
"""The fields of a slot hash read fresh at every step: what booking, the waitlist and staff's 停诊 change, and with
them the capacity (everything that decides the places left), whoever changed it."""

DayKey = tuple[str, str, str]
"""(hospital, department, YYYY-MM-DD)."""

_PINNED: ContextVar[str | None] = ContextVar("schedule_version", default=None)


@contextmanager
def pinned(version: str | None) -> Iterator[None]:
    """Read the schedule at ``version`` (None: uncached) for what runs inside, on this thread or task only."""
    token = _PINNED.set(version)
    try:
        yield
    finally:
        _PINNED.reset(token)


def pinned_version() -> str | None:
    """The version pinned for this step, or None."""
    return _PINNED.get()


def with_live(slot: Slot, live: Sequence[Any]) -> Slot | None:
    """``slot`` with its places and status as just read (the values of :data:`LIVE_FIELDS`); None when the slot is
    gone (a slot hash always holds its status).

    A copy of the cached slot with four fields set, not validated again: the counts are ``int()``-checked here and
    the rest was validated when it was read (the hot path of every booking question)."""
    taken, wl_free, wl_held, status, capacity = (v.decode() if isinstance(v, bytes) else v for v in live)
    if not status:
        return None
    fresh = object.__new__(Slot)
    fresh.__dict__.update(slot.__dict__)
    fresh.__dict__.update(
        taken=int(taken or 0),
        wl_free=int(wl_free or 0),
        wl_held=int(wl_held or 0),
        status=status,
        capacity=int(capacity or 0),
    )
    return fresh


@dataclass
class _Kept:
    version: str | None = None
    day_ids: dict[DayKey, tuple[str, ...]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    dates: dict[str, tuple[str, ...]] = field(default_factory=dict)


class ScheduleCache:
    """The structure of the schedule at one version, for one process (shared by its threads)."""

    def __init__(self) -> None:
        self._kept = _Kept()
        self._lock = threading.Lock()

    def at(self, version: str) -> _Kept:
        """What is kept for ``version`` (emptied when the version changed)."""
        with self._lock:
            if self._kept.version != version:
                self._kept = _Kept(version)
            return self._kept

    def day_ids(self, version: str, day: DayKey) -> tuple[str, ...] | None:
        return self.at(version).day_ids.get(day)

    def keep_day(self, version: str, day: DayKey, ids: tuple[str, ...]) -> None:
        self.at(version).day_ids[day] = ids

    def slot(self, version: str, slot_id: str) -> Slot | None:
        return self.at(version).slots.get(slot_id)

    def keep_slot(self, version: str, slot: Slot) -> None:
        self.at(version).slots[slot.id] = slot

    def dates(self, version: str, hospital: str) -> tuple[str, ...] | None:
        return self.at(version).dates.get(hospital)

    def keep_dates(self, version: str, hospital: str, dates: tuple[str, ...]) -> None:
        self.at(version).dates[hospital] = dates
