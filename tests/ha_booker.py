"""A booking process for the failover test (spawned: it builds its own Sentinel client and services), several
threads booking through the same ``BookingService`` a web process runs, through a SIGKILL of the primary."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from bot.booking import BookingRefused
from bot.clock import SystemClock
from bot.config import Config, build_config
from bot.settle import OutcomeUnconfirmed
from bot.storage.runtime import connect_sentinel
from tests.support import CONFIG_RAW, make_services

SERVICE = "guahao"
HOLD_WAIT_S = 20.0
LOOSE_LIMITS = {"limit_same_day_department": 50, "limit_same_day": 50, "limit_7_days": 500, "limit_3_months": 500}
"""Limits loose enough that a patient books many times in the run: the rush is about places and failover."""


def settle_address(serial: str) -> str:
    """The openid an unconfirmed booking's outcome is sent to (one per booking, to count the messages)."""
    return f"o-settle-{serial}"


def ha_config(sentinels: list[str], min_replicas_ack: int) -> Config:
    redis_table = {"sentinels": sentinels, "sentinel_service": SERVICE, "min_replicas_ack": min_replicas_ack}
    return build_config({**CONFIG_RAW, "policy": LOOSE_LIMITS, "redis": {**redis_table, "ack_timeout_ms": 300}})


@dataclass(frozen=True)
class Outcome:
    """One booking attempt: ``ok`` (told booked), ``unconfirmed`` (told "being confirmed"), ``refused:<rule>``, or
    ``error:<type>`` (the client gave up); ``at``: wall-clock time it was answered."""

    pid: str
    slot: str
    outcome: str
    serial: str
    at: float


def book_through_failover(
    sentinels: list[str], min_replicas_ack: int, bookers: list[tuple[str, str]], slots: list[str], threads: int,
    stop: Any, answered: Any, results: Any, pause_s: float,
) -> None:  # fmt: skip
    """Book random slots for ``bookers`` (pid, acct) from ``threads`` threads until ``stop`` (an Event) is set;
    ``answered`` (a shared counter) counts the answers; the outcomes go to ``results`` (a Queue) at the end."""
    config = ha_config(sentinels, min_replicas_ack)
    client = connect_sentinel([(h, int(p)) for h, _, p in (s.rpartition(":") for s in sentinels)], SERVICE)
    services = make_services(client, config, SystemClock())
    found: list[Outcome] = []
    lock = threading.Lock()

    def run(mine: list[tuple[str, str]], seed: int) -> None:
        pick = random.Random(seed)
        n = 0
        while not stop.is_set():
            pid, acct = mine[n % len(mine)]
            n += 1
            outcome = _attempt(services, pid, acct, pick.choice(slots))
            with lock:
                found.append(outcome)
            with answered.get_lock():
                answered.value += 1
            time.sleep(pause_s)

    workers = [threading.Thread(target=run, args=(bookers[i::threads], i), name=f"booker-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    deadline = time.monotonic() + HOLD_WAIT_S
    while services.booking.settlements.holding() and time.monotonic() < deadline:
        time.sleep(0.1)  # the "being confirmed" records this process still holds: until the replicas have them
    client.close()
    results.put([(r.pid, r.slot, r.outcome, r.serial, r.at) for r in found])


def _attempt(services: Any, pid: str, acct: str, slot: str) -> Outcome:
    try:
        booked = services.booking.book(pid, acct, "sms", slot)
        return Outcome(pid, slot, "ok", booked.serial, time.time())
    except OutcomeUnconfirmed as pending:  # as the dialog does: told "being confirmed", settled later
        services.booking.settlements.defer(pending, settle_address(pending.appointment.serial), "wechat")
        return Outcome(pid, slot, "unconfirmed", pending.appointment.serial, time.time())
    except BookingRefused as refused:
        return Outcome(pid, slot, f"refused:{refused.decision.rule}", "", time.time())
    except (redis.RedisError, OSError) as failed:
        return Outcome(pid, slot, f"error:{type(failed).__name__}", "", time.time())
