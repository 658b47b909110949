"""The background work: RQ job functions, and the periodic tick (no-show sweep, due reminders, day releases,
abandoned broadcasts) that the worker runs every few seconds and the simulator runs right after moving the clock.

Job functions run in a worker that :func:`install` ed the services (``guahao worker`` does): RQ imports them by name
(``bot.jobs.send_reminder``) and passes JSON-serialisable arguments only. Every job is idempotent, so a job that RQ
re-queues after a shutdown, or that runs twice, changes nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import redis

import rules
from bot.broadcasts import Broadcasts
from bot.clock import Clock
from bot.config import Config
from bot.reminders import Reminders
from bot.standing import StandingService
from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

RELEASE_FLAG_TTL = timedelta(days=30)


class JobServices(Protocol):
    """What the jobs use of the wired services (``bot.services.Services`` has all of it)."""

    config: Config
    redis: redis.Redis
    clock: Clock
    standing: StandingService
    reminders: Reminders
    broadcasts: Broadcasts


_installed: JobServices | None = None


def install(services: JobServices) -> None:
    """Make ``services`` the ones the jobs of this process use."""
    global _installed
    _installed = services


def installed() -> JobServices:
    """The services installed in this process; a job run by a bare ``rq worker`` cannot work without them."""
    if _installed is None:
        raise RuntimeError("guahao jobs run in 'guahao worker' (app.worker.run_worker), not a bare rq worker")
    return _installed


# --- jobs --------------------------------------------------------------------------------------------------
def send_reminder(serial: str, kind: str, due: str) -> str:
    """Job: send one reminder (or the confirmation) of one appointment if it still makes sense."""
    return installed().reminders.send(serial, kind, due)


def broadcast_batch(broadcast_id: str, batch: int) -> str:
    """Job: one batch of a broadcast."""
    return installed().broadcasts.run_batch(broadcast_id, int(batch))


# --- the periodic tick -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tick:
    """What one periodic tick did."""

    no_shows: int
    reminders: int
    released: int
    broadcasts_resumed: int


def run_periodic(services: JobServices) -> Tick:
    """Run every periodic duty once: the no-show sweep, due reminders, releases of new days, abandoned broadcasts.
    Each is idempotent and safe with several workers; the reminder jobs are enqueued for the workers."""
    no_shows = services.standing.sweep_no_shows()
    dispatched = services.reminders.dispatch_due()
    released = release_days(services.redis, services.config, services.clock)
    resumed = services.broadcasts.resume_abandoned()
    tick = Tick(no_shows, dispatched, released, len(resumed))
    if any((no_shows, dispatched, released, resumed)):
        log.info("periodic tick", extra=tick.__dict__)
    return tick


def dispatch_due(services: JobServices) -> int:
    """Enqueue a job for every reminder due on the deployment clock; the number enqueued."""
    return services.reminders.dispatch_due()


def release_days(redis_client: redis.Redis, config: Config, clock: Clock) -> int:
    """Record (audit action ``day_released``, once per hospital and date) every visit date that is inside the
    hospital's booking window now; the number recorded now.

    Nothing else needs doing for a day to open: the booking rules (``rules.check_window``) refuse a date before its
    release time and accept it from then on, and imported slots are ``open``. This makes the release visible in the
    audit trail (with the number of slots that went on sale), at the moment the deployment clock passes it.
    """
    scripts = Scripts(redis_client, "reminder_release")
    now = clock.now()
    recorded = 0
    for hospital in config.hospitals:
        first, last = rules.booking_window(hospital.policy, now)
        day = first
        while day <= last:
            slots = redis_client.zcard(keys.slots_of_day(hospital.id, day.isoformat()))
            at = now.astimezone(hospital.policy.tz).isoformat(timespec="seconds")
            detail = f"hospital={hospital.id} date={day.isoformat()} slots={slots}"
            recorded += int(
                scripts.run(
                    "reminder_release",
                    keys=[keys.day_released(hospital.id, day.isoformat()), keys.AUDIT],
                    args=[at, detail, int(RELEASE_FLAG_TTL.total_seconds())],
                )
            )
            day += timedelta(days=1)
    return recorded
