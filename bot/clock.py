"""Time, injected: logic never calls ``datetime.now()``; it asks a :class:`Clock`.

``SystemClock`` is the wall clock. ``RedisClock`` is the wall clock plus an offset kept in Redis, so that every
process of a deployment (web workers, RQ workers) follows the simulator when it moves time. ``ManualClock`` is for
tests and benchmarks.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

from bot.storage import keys


class Clock(Protocol):
    """Something that tells the current time as an aware UTC ``datetime``."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, benchmarks)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The clock's current time."""
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now


class RedisClock:
    """The wall clock shifted by an offset stored in Redis, shared by every process of a deployment."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self._redis = redis_client

    def offset(self) -> timedelta:
        """How far ahead of the wall clock the deployment runs."""
        raw = self._redis.get(keys.CLOCK_OFFSET)
        return timedelta(seconds=float(raw)) if raw else timedelta(0)

    def now(self) -> datetime:
        """Wall clock + the shared offset."""
        return datetime.now(UTC) + self.offset()

    def set(self, moment: datetime) -> datetime:
        """Make ``now()`` read ``moment`` (aware) in every process."""
        offset = moment.astimezone(UTC) - datetime.now(UTC)
        self._redis.set(keys.CLOCK_OFFSET, repr(offset.total_seconds()))
        return self.now()

    def advance(self, delta: timedelta) -> datetime:
        """Move the shared clock forward by ``delta``."""
        self._redis.incrbyfloat(keys.CLOCK_OFFSET, delta.total_seconds())
        return self.now()
