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
LOOSE_LIMITS = {"limit_same_day_department": 50, "limit_same_day": 50, "limit_7_days": 500, "limit_3_months": 500}
"""Limits loose enough that a patient books many times in the run: the rush is about places and failover."""


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
    sentinels: list[str], min_replicas_ack: int, bookers: list[tuple[str, str]], slots: list[str],
    threads: int, stop_at: float, pause_s: float,
) -> list[tuple[str, str, str, str, float]]:  # fmt: skip
    """Book random slots for ``bookers`` (pid, acct) from ``threads`` threads until ``stop_at`` (wall clock)."""
    import faulthandler; faulthandler.dump_traceback_later(30, exit=False)
    config = ha_config(sentinels, min_replicas_ack)
    client = connect_sentinel([(h, int(p)) for h, _, p in (s.rpartition(":") for s in sentinels)], SERVICE)
    services = make_services(client, config, SystemClock())
    results: list[Outcome] = []
    lock = threading.Lock()

    def run(mine: list[tuple[str, str]], seed: int) -> None:
        pick = random.Random(seed)
        n = 0
        while time.time() < stop_at:
            pid, acct = mine[n % len(mine)]
            n += 1
            slot = pick.choice(slots)
            found = _attempt(services, pid, acct, slot)
            with lock:
                results.append(found)
            time.sleep(pause_s)

    workers = [
        threading.Thread(target=run, args=(bookers[i::threads], i), name=f"booker-{i}") for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    client.close()
    return [(r.pid, r.slot, r.outcome, r.serial, r.at) for r in results]


def _attempt(services: Any, pid: str, acct: str, slot: str) -> Outcome:
    try:
        booked = services.booking.book(pid, acct, "sms", slot)
        return Outcome(pid, slot, "ok", booked.serial, time.time())
    except OutcomeUnconfirmed as pending:
        return Outcome(pid, slot, "unconfirmed", pending.appointment.serial, time.time())
    except BookingRefused as refused:
        return Outcome(pid, slot, f"refused:{refused.decision.rule}", "", time.time())
    except (redis.RedisError, OSError) as failed:
        return Outcome(pid, slot, f"error:{type(failed).__name__}", "", time.time())
