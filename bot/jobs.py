"""The background work: RQ job functions, and the periodic tick (no-show sweep, due reminders, day releases,
abandoned broadcasts) that the worker runs every few seconds and the simulator runs right after moving the clock.

RQ imports job functions by name (``bot.jobs.send_reminder``) and passes JSON-serialisable arguments only, so a job
finds the services it works with in the :class:`JobServices` that the worker running it binds (:func:`bound_to`,
around every job: ``app.worker``) — not in a process-wide global. Every job is idempotent, so a job that RQ re-queues
after a shutdown, or that runs twice, changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Protocol

import redis

from bot.booking import BookingService
from bot.broadcasts import Broadcasts
from bot.clock import Clock
from bot.config import Config
from bot.lottery import Lottery
from bot.notifications.notifier import Notifier
from bot.release import release_days, run_lottery_draws
from bot.reminders import ReminderDue, Reminders
from bot.reschedule import RescheduleService
from bot.standing import StandingService
from bot.waitlist import WaitlistService
from bot.waitlist_push import WaitlistPush

log = logging.getLogger(__name__)


class JobServices(Protocol):
    """What the jobs use of the wired services (``bot.services.Services`` has all of it)."""

    config: Config
    redis: redis.Redis
    clock: Clock
    standing: StandingService
    notifier: Notifier
    reminders: Reminders
    broadcasts: Broadcasts
    booking: BookingService
    lottery: Lottery
    waitlist: WaitlistService
    waitlist_push: WaitlistPush
    reschedule: RescheduleService


_bound: ContextVar[JobServices] = ContextVar("guahao_job_services")


@contextmanager
def bound_to(services: JobServices) -> Iterator[None]:
    """Within this block (a worker running one job), the jobs use ``services``."""
    token = _bound.set(services)
    try:
        yield
    finally:
        _bound.reset(token)


def _services() -> JobServices:
    try:
        return _bound.get()
    except LookupError:
        raise RuntimeError("guahao jobs run in 'guahao worker' (app.worker.run_worker), not a bare rq worker") from None


def bound_services() -> JobServices:
    """The services of the worker running the current job (for the jobs of the floors above: ``app.late_replies``)."""
    return _services()


# --- jobs --------------------------------------------------------------------------------------------------
def send_reminder(serial: str, kind: str, due: int | str) -> str:
    """Job: send one reminder (or the confirmation) of one appointment if it still makes sense."""
    return _services().reminders.send(ReminderDue(serial, kind, int(due)))


def send_confirmations(job_id: str) -> str:
    """Job: send the booking confirmations waiting in line (bot.confirmations; ``Reminders.on_booked`` queues it when
    none is queued or running)."""
    return _services().reminders.send_confirmations(job_id)


class NoticeFailed(RuntimeError):
    """A notice could not be sent now: the job fails and RQ retries it."""


def send_no_show(serial: str) -> str:
    """Job: tell the patient of one recorded no-show (enqueued by the sweep that recorded it)."""
    services = _services()
    appointment = services.standing.store.require(serial)
    delivery = services.notifier.no_show(appointment, services.standing.standing(appointment.pid))
    if not delivery.ok and not delivery.final:
        raise NoticeFailed(f"no-show notice of {serial}: {delivery.error}")
    return "sent" if delivery.ok else f"failed: {delivery.error}"


def push_fallback(msgid: str) -> str:
    """Job: WeChat reported a template message failed (``TEMPLATESENDJOBFINISH``): its SMS fallback, once."""
    services = _services()
    delivery = services.notifier.after_failed_push(msgid, services.standing.store)
    if delivery is None:
        return "nothing to send"
    if not delivery.ok and not delivery.final:
        raise NoticeFailed(f"sms fallback of wechat message {msgid}: {delivery.error}")
    return "sent" if delivery.ok else f"failed: {delivery.error}"


def send_offer(entry_id: str) -> str:
    """Job: push the offer of a place held for one waitlist entry (nothing once it is no longer held)."""
    delivery = _services().waitlist_push.send(entry_id)
    if not delivery.ok and not delivery.final:
        raise NoticeFailed(f"offer of waitlist entry {entry_id}: {delivery.error}")
    return delivery.skipped or ("sent" if delivery.ok else f"failed: {delivery.error}")


def send_skip_notice(entry_id: str) -> str:
    """Job: tell a waiter skipped at an offer (the booking rules no longer allowed them the place), once."""
    delivery = _services().waitlist_push.send_skip_notice(entry_id)
    if not delivery.ok and not delivery.final:
        raise NoticeFailed(f"skip notice of waitlist entry {entry_id}: {delivery.error}")
    return delivery.skipped or ("sent" if delivery.ok else f"failed: {delivery.error}")


def send_rescheduled(serial: str, old_serial: str) -> str:
    """Job: push the ``rescheduled`` notice of a moved appointment."""
    delivery = _services().reschedule.send_notice(serial, old_serial)
    if not delivery.ok and not delivery.final:
        raise NoticeFailed(f"rescheduled notice of {serial}: {delivery.error}")
    return delivery.skipped or ("sent" if delivery.ok else f"failed: {delivery.error}")


def broadcast_batch(broadcast_id: str, batch: int) -> str:
    """Job: one batch of a broadcast."""
    return _services().broadcasts.run_batch(broadcast_id, int(batch))


# --- the periodic tick -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tick:
    """What one periodic tick did."""

    no_shows: int
    reminders: int
    released: int
    broadcasts_resumed: int
    lottery_told: int = 0
    waitlist_offers: int = 0
    settled: int = 0


def _waitlist_tick(services: JobServices) -> int:
    """The waitlist's duty: end waiting past deadlines, pass lapsed holds on, offer freed places (RULES §10)."""
    tick = services.waitlist.tick()
    return tick.offered


def run_periodic(services: JobServices) -> Tick:
    """Run every periodic duty once: the no-show sweep, due reminders, releases of new days, abandoned broadcasts,
    outcomes the replicas had not confirmed (``bot.settle``). Each is idempotent and safe with several workers
    (which run it one at a time, under the periodic lease: ``app.worker``); the reminder jobs are enqueued."""
    settled = services.booking.settlements.settle_due(services.notifier, services.reminders)
    tick = Tick(
        no_shows=services.standing.sweep_no_shows(),
        reminders=services.reminders.dispatch_due(),
        released=release_days(services.redis, services.config, services.clock),
        broadcasts_resumed=len(services.broadcasts.resume_abandoned()),
        lottery_told=run_lottery_draws(services.lottery),
        waitlist_offers=_waitlist_tick(services),
        settled=sum(1 for s in settled if s.outcome is not None),
    )
    if any(asdict(tick).values()):
        log.info("periodic tick", extra=asdict(tick))
    return tick
