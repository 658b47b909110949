"""Reminders (RULES §7): a confirmation at booking, then the reminders ``rules.reminder_times`` asks for.

The deployment's clock lives in Redis (the simulator moves it), so RQ's own wall-clock scheduler is not used for
reminders. Instead each reminder (a :class:`ReminderDue`) is an entry in a sorted set scored by its due time on the
deployment clock (``keys.REMINDERS_DUE``). :meth:`Reminders.dispatch_due` — run every few seconds by the worker and
right after the simulator moves the clock — claims the due entries atomically (``reminder_claim.lua``: two workers
never claim the same) into ``keys.REMINDERS_CLAIMED`` with a wall-clock lease, and enqueues one RQ job per entry
(job id :attr:`ReminderDue.id`). A job that finishes removes its claim; a claim whose
job died is handed out again when its lease lapses.

A booking's confirmation is claimed at once and put in line for one batch job that sends every confirmation waiting
(bot.confirmations), queued only when none is queued or running. A confirmation that job fails to send, or that a
dying job took, lapses into a single job as above.

When its job runs, a reminder re-reads the appointment and sends nothing if it was cancelled, attended or moved
(a moved one is rescheduled at its new time), nor when it is too late to be useful, nor to a patient who opted out
(the confirmation ignores opt-outs). The same id, as the send-once key, makes a retried job a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from redis.client import Pipeline
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

import rules
from bot.appointments import AppointmentStore
from bot.clock import Clock
from bot.confirmations import ConfirmationJob, new_job_id
from bot.notifications.notifier import Notifier
from bot.notifications.outbox import OutboxKind
from bot.records import Appointment, local_moment, text
from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

Status = rules.AppointmentStatus

QUEUE_NAME = "guahao"
"""The RQ queue of every guahao job (reminders, broadcast batches)."""
CONFIRMATION = "confirmation"
KINDS = (CONFIRMATION, *(kind.value for kind in rules.ReminderKind))
CLAIM_LEASE = timedelta(minutes=10)
"""A claimed reminder whose job has not finished after this long (wall clock) is handed out again."""
DISPATCH_LIMIT = 5_000
"""At most this many entries are claimed per :meth:`Reminders.dispatch_due` call."""
JOB_TIMEOUT_S = 120
RESULT_TTL_S = 24 * 3600
LIVE_JOB_STATES = ("queued", "started", "scheduled", "deferred")


class ReminderFailed(RuntimeError):
    """A reminder could not be sent now: the job fails, and its claim lapses into a retry."""


def job_queue(redis_client: redis.Redis) -> Queue:
    """The RQ queue of guahao's jobs, with the JSON serializer (never pickle)."""
    return Queue(QUEUE_NAME, connection=redis_client, serializer=JSONSerializer)


@dataclass(frozen=True)
class ReminderDue:
    """One reminder (or the confirmation) of one appointment, due at ``due`` (epoch seconds, deployment clock).

    Its one id (``reminder-<serial>-<kind>``: RQ allows no ``:`` in ids) names its RQ job and its send-once key. In
    Redis it is ``<serial>|<kind>`` in the due set (scored by ``due``) and ``<serial>|<kind>|<due>`` in the claimed
    set; :meth:`entry`, :meth:`claim` and :meth:`from_claim` are the only places that spell those out (with
    ``reminder_claim.lua``, which joins the first and its score into the second).
    """

    serial: str
    kind: str
    due: int

    @property
    def id(self) -> str:
        """The RQ job id and the send-once key of this reminder."""
        return f"reminder-{self.serial}-{self.kind}"

    @staticmethod
    def entry(serial: str, kind: str) -> str:
        """The member of the due set (``keys.REMINDERS_DUE``) of one reminder of one appointment."""
        return f"{serial}|{kind}"

    def claim(self) -> str:
        """The member of the claimed set (``keys.REMINDERS_CLAIMED``)."""
        return f"{self.entry(self.serial, self.kind)}|{self.due}"

    @classmethod
    def from_claim(cls, member: bytes | str) -> ReminderDue:
        """The reminder of a claimed-set member."""
        serial, kind, due = text(member).split("|")
        return cls(serial, kind, int(float(due)))


class Reminders:
    """Schedules, dispatches and sends the confirmation and reminders of appointments."""

    def __init__(
        self,
        redis_client: redis.Redis,
        store: AppointmentStore,
        notifier: Notifier,
        clock: Clock,
        *,
        queue: Queue | None = None,
        wall: Clock | None = None,
    ) -> None:
        self.redis = redis_client
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.queue = queue if queue is not None else job_queue(redis_client)
        self._wall = wall
        self.confirmations = ConfirmationJob(
            redis_client, self.queue, self._send_claimed, job_timeout_s=JOB_TIMEOUT_S, result_ttl_s=RESULT_TTL_S
        )
        self._scripts = Scripts(redis_client, "reminder_claim", "reminders_booked")

    def _wall_now(self) -> float:
        if self._wall is not None:
            return self._wall.now().timestamp()
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6  # the server's clock: the same for every worker

    # --- scheduling --------------------------------------------------------------------------------------
    def on_booked(self, appointment: Appointment, to: str, channel: str | None = None) -> None:
        """Right after a booking: remember where to notify (``to``: the booking user's openid or phone), schedule the
        reminders, claim the confirmation and put it in line for the batch job that sends confirmations (one script,
        ``reminders_booked.lua``); queue that job only when none is queued or running (a second round trip then).

        At a release rush one RQ job per booking cost the worker more than the confirmations themselves (some twenty
        round trips of RQ's own bookkeeping per job): the batch job sends what has gathered while it waited."""
        key, fields, until = self.notifier.address_record(appointment, to, channel)
        confirmation = ReminderDue(appointment.serial, CONFIRMATION, round(appointment.booked_at.timestamp()))
        wall = "" if self._wall is None else self._wall.now().timestamp()  # "": the server's clock, in the script
        job_id = new_job_id()  # queued only if no confirmations' job is
        args: list[Any] = [fields["channel"], fields["to_enc"], until, confirmation.claim()]
        args += [CLAIM_LEASE.total_seconds(), wall, *self.confirmations.flag_args(job_id)]
        for kind, at in self._due(appointment).items():
            args += [at, ReminderDue.entry(appointment.serial, kind)]
        held = [key, keys.REMINDERS_DUE, keys.REMINDERS_CLAIMED, keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB]
        if self._scripts.run("reminders_booked", keys=held, args=args):
            self.confirmations.enqueue(job_id)

    def _due(self, appointment: Appointment) -> dict[str, float]:
        """When each of an appointment's reminders falls due (epoch seconds), by kind."""
        policy = self.store.policy_for(appointment.hospital)
        times = rules.reminder_times(policy, appointment.slot_facts(policy.tz), appointment.booked_at)
        return {kind.value: float(round(at.timestamp())) for kind, at in times.items()}

    def schedule(self, appointment: Appointment) -> dict[str, float]:
        """(Re)schedule the reminders of a booked appointment; the due times (epoch seconds) by kind."""
        due = self._due(appointment)
        if due:
            self.redis.zadd(keys.REMINDERS_DUE, {ReminderDue.entry(appointment.serial, k): at for k, at in due.items()})
        return due

    def unschedule(self, serial: str) -> None:
        """Drop the reminders not yet dispatched (on cancellation; a job already queued re-checks anyway)."""
        self.redis.zrem(keys.REMINDERS_DUE, *(ReminderDue.entry(serial, kind) for kind in KINDS))

    def on_cancelled(self, serial: str) -> None:
        """Right after a cancellation: no more reminders for it."""
        self.unschedule(serial)

    def pending(self, serial: str) -> dict[str, float]:
        """The reminders of an appointment still waiting to fall due (kind -> epoch seconds)."""
        pipe = self.redis.pipeline(transaction=False)
        for kind in KINDS:
            pipe.zscore(keys.REMINDERS_DUE, ReminderDue.entry(serial, kind))
        return {kind: float(score) for kind, score in zip(KINDS, pipe.execute(), strict=True) if score is not None}

    # --- dispatching -------------------------------------------------------------------------------------
    def dispatch_due(self, limit: int = DISPATCH_LIMIT) -> int:
        """Claim every reminder due on the deployment clock (and every lapsed claim) and enqueue its job; the
        number of jobs enqueued. Safe from several workers at once."""
        fresh, lapsed = self._scripts.run(
            "reminder_claim",
            keys=[keys.REMINDERS_DUE, keys.REMINDERS_CLAIMED],
            args=[self.clock.now().timestamp(), self._wall_now(), CLAIM_LEASE.total_seconds(), limit],
        )
        renewed = (ReminderDue.from_claim(m) for m in lapsed)
        # a lapsed claim whose job still waits in the queue (or runs) is left be
        todo = [*map(ReminderDue.from_claim, fresh), *(r for r in renewed if not self._job_alive(r.id))]
        for reminder in todo:
            self._enqueue(reminder)
        return len(todo)

    def _job_alive(self, identifier: str) -> bool:
        try:
            job = Job.fetch(identifier, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return False
        return str(job.get_status(refresh=False)) in LIVE_JOB_STATES

    def _enqueue(self, reminder: ReminderDue, pipeline: Pipeline | None = None) -> None:
        self.queue.enqueue(
            "bot.jobs.send_reminder",
            reminder.serial,
            reminder.kind,
            reminder.due,
            job_id=reminder.id,
            job_timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S,
            description=f"reminder {reminder.kind} of {reminder.serial}",
            pipeline=pipeline,
        )

    def _finish(self, reminder: ReminderDue) -> None:
        self.redis.zrem(keys.REMINDERS_CLAIMED, reminder.claim())

    # --- sending (the jobs) ------------------------------------------------------------------------------
    def send_confirmations(self, job_id: str) -> str:
        """The confirmations' batch job ``job_id`` (bot.confirmations): what happened, counted."""
        return self.confirmations.run(job_id)

    def _send_claimed(self, claim: bytes | str) -> str:
        """The batch job's send of one claimed confirmation: ``failed`` when it could not be sent now (its claim stays
        and lapses into a single job)."""
        reminder = ReminderDue.from_claim(claim)
        try:
            return self.send(reminder)
        except ReminderFailed:
            log.warning("confirmation not sent, retried once its claim lapses", extra={"serial": reminder.serial})
            return "failed"

    def send(self, reminder: ReminderDue) -> str:
        """Send one reminder if it still makes sense; what happened (``sent``, ``opted_out``, ``not_booked``,
        ``moved``, ``too_late``, ...). Raises :class:`ReminderFailed` when the send failed (retried later)."""
        appointment = self.store.get(reminder.serial)
        if appointment is None or appointment.status != Status.booked:
            self._finish(reminder)
            return "gone" if appointment is None else "not_booked"
        if reminder.kind == CONFIRMATION:
            outcome = self._deliver(appointment, reminder, OutboxKind.confirmation, respect_opt_out=False)
        else:
            late = self._check_time(appointment, reminder.kind, reminder.due)
            outcome = late or self._deliver(appointment, reminder, OutboxKind.reminder, respect_opt_out=True)
        self._finish(reminder)
        return outcome

    def _check_time(self, appointment: Appointment, kind: str, due: int) -> str | None:
        """None when the reminder is due now and still useful; else why not (rescheduled when it moved)."""
        policy = self.store.policy_for(appointment.hospital)
        facts = appointment.slot_facts(policy.tz)
        try:
            reminder = rules.ReminderKind(kind)
        except ValueError:
            return "unknown_kind"
        at = rules.reminder_times(policy, facts, appointment.booked_at).get(reminder)
        if at is None:
            return "moved"
        now = self.clock.now()
        if abs(at.timestamp() - due) >= 1 or now < at:
            self.redis.zadd(keys.REMINDERS_DUE, {ReminderDue.entry(appointment.serial, kind): round(at.timestamp())})
            return "moved"
        if now >= _useful_until(reminder, appointment, policy):
            return "too_late"
        return None

    def _deliver(
        self, appointment: Appointment, reminder: ReminderDue, outbox_kind: OutboxKind, *, respect_opt_out: bool
    ) -> str:
        kind = reminder.kind
        body = self.notifier.compose(appointment, kind)
        delivery = self.notifier.deliver(appointment, outbox_kind, body, reminder.id, respect_opt_out=respect_opt_out)
        if delivery.skipped:
            return delivery.skipped
        if delivery.ok:
            return "sent" if delivery.channel == appointment.channel else f"sent_{delivery.channel}"
        if delivery.final:
            log.warning("reminder undeliverable", extra={"serial": appointment.serial, "kind": kind})
            return "undeliverable"
        raise ReminderFailed(f"reminder {kind} of {appointment.serial} not sent: {delivery.error}")


def _useful_until(kind: rules.ReminderKind, appointment: Appointment, policy: rules.Policy) -> datetime:
    """After this a reminder would mislead or come too late (the worker was down, the clock jumped): not sent."""
    if kind == rules.ReminderKind.window_end:  # "cancel before ..." once that moment passed
        return rules.cancel_deadline(policy, appointment.slot_facts(policy.tz))
    if kind == rules.ReminderKind.day_before:  # "tomorrow ..." on the day itself
        return local_moment(appointment.date, "00:00", policy.tz)
    return local_moment(appointment.date, appointment.start, policy.tz)
