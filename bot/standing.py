"""Attendance and standing: check-in, the no-show sweep, waivers, abuse flags, and the patient's standing.

Standing is always recomputed by ``rules`` from the facts (violations, waivers, the staff's flag), so a waiver
lifts what it caused; the result is also stored (``keys.standing``) for operators, written only if the patient's
record did not move meanwhile, so concurrent sweeps never store a stale standing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from rq import Retry

import rules
from bot import audit
from bot.appointments import AppointmentStore, Transition
from bot.errors import InvalidRequestError
from bot.metrics import metrics
from bot.records import Appointment, local_moment, text
from bot.reminders import JOB_TIMEOUT_S, RESULT_TTL_S, job_queue
from bot.storage import keys
from bot.storage.scripts import Scripts

Status = rules.AppointmentStatus
SWEEP_BATCH = 500
NOTICE_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])
"""A no-show notice that could not be sent (provider down) is tried again, later and later."""
CLEAN = rules.Standing(no_shows_this_year=0, suspended_until=None, reason=None)


def standing_from_facts(
    policy: rules.Policy,
    violations: Mapping[bytes, bytes],
    waived: set[str],
    stored: Mapping[str, str],
    now: datetime,
) -> rules.Standing:
    """The standing from raw facts: violations (serial -> local-midnight epoch), waived serials, the stored flag."""
    flag = stored.get("flagged_until", "")
    if not violations and not flag:  # the usual patient: nothing to count (a hot path of booking)
        return CLEAN
    no_shows = [
        rules.NoShowFacts(
            serial=serial.decode(),
            date=datetime.fromtimestamp(float(score), policy.tz).date(),
            waived=serial.decode() in waived,
        )
        for serial, score in violations.items()
    ]
    return rules.compute_standing(policy, no_shows, now, flagged_until=date.fromisoformat(flag) if flag else None)


class StandingService:
    """Check-in, no-shows, waivers, flags; the standing of a patient."""

    def __init__(self, store: AppointmentStore) -> None:
        self.store = store
        self.redis = store.redis
        self.clock = store.clock
        self.policy = store.config.policy  # standing is platform-wide: limits attach to the patient
        self._scripts = Scripts(store.redis, "standing_save")

    # --- standing --------------------------------------------------------------------------------------
    def standing(self, pid: str) -> rules.Standing:
        """The patient's standing now."""
        return self._compute(pid)[0]

    def _compute(self, pid: str) -> tuple[rules.Standing, str]:
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(keys.patient_version(pid))
        pipe.zrange(keys.patient_violations(pid), 0, -1, withscores=True)
        pipe.smembers(keys.patient_waived(pid))
        pipe.hgetall(keys.standing(pid))
        version, violations, waived, stored = pipe.execute()
        standing = standing_from_facts(
            self.policy,
            {serial: str(score).encode() for serial, score in violations},
            {w.decode() for w in waived},
            {k.decode(): v.decode() for k, v in stored.items()},
            self.clock.now(),
        )
        return standing, (version or b"0").decode()

    def refresh(self, pid: str, actor: str = audit.SYSTEM) -> rules.Standing:
        """Recompute and store the standing (retried if the record moves meanwhile)."""
        while True:
            standing, version = self._compute(pid)
            stored = self._scripts.run(
                "standing_save",
                keys=[keys.patient_version(pid), keys.standing(pid), keys.AUDIT],
                args=[
                    version,
                    self.store.stamp(),
                    actor,
                    pid,
                    "no_shows_this_year",
                    standing.no_shows_this_year,
                    "suspended_until",
                    standing.suspended_until.isoformat() if standing.suspended_until else "",
                    "reason",
                    standing.reason or "",
                ],
            )
            if stored:
                return standing

    def flag(self, pid: str, until: date | None, reason: str, actor: str) -> rules.Standing:
        """Withdraw (``until`` a date) or restore (``None``) a patient's booking rights for malicious booking."""
        self.redis.hset(
            keys.standing(pid), mapping={"flagged_until": until.isoformat() if until else "", "flag_reason": reason}
        )
        self.redis.incr(keys.patient_version(pid))
        return self.refresh(pid, actor)

    # --- attendance ------------------------------------------------------------------------------------
    def checkin(self, serial: str, actor: str) -> Appointment:
        """Mark attended (取号): on the visit day, until the check-in deadline of the slot."""
        appointment = self.store.require(serial)
        policy = self.store.policy_for(appointment.hospital)
        now = self.clock.now().astimezone(policy.tz)
        start = local_moment(appointment.date, appointment.start, policy.tz)
        deadline = start - timedelta(minutes=policy.checkin_deadline_minutes)
        if appointment.status == Status.booked:
            if now.date().isoformat() != appointment.date:
                raise InvalidRequestError(f"appointment {serial} is on {appointment.date}: check in on that day")
            if now > deadline:
                raise InvalidRequestError(
                    f"the check-in deadline of appointment {serial} was {deadline:%H:%M}; a missed visit can be waived"
                )
        change = Transition(allowed_from=(Status.booked,), to=Status.attended, action="checked_in")
        return self.store.transition(appointment, change, actor, fields={"checked_in_at": self.store.stamp()})

    def waive(self, serial: str, actor: str) -> Appointment:
        """Staff waive a no-show (or a late cancellation's violation): it stops counting, suspensions it caused lift."""
        appointment = self.store.require(serial)
        if appointment.status == Status.cancelled_late:
            change = Transition(
                allowed_from=(Status.cancelled_late,), to=Status.cancelled_late, action="waived", waive=True
            )
        else:
            change = Transition(allowed_from=(Status.no_show,), to=Status.no_show_waived, action="waived", waive=True)
        waived = self.store.transition(appointment, change, actor)
        self.refresh(appointment.pid, actor)
        return waived

    def sweep_no_shows(self, limit: int = 100_000) -> int:
        """Mark every booked appointment whose slot has ended as a no-show; idempotent, safe from many workers."""
        now = self.clock.now()
        marked = 0
        affected: set[str] = set()
        recorded: list[str] = []
        change = Transition(allowed_from=(Status.booked,), to=Status.no_show, action="no_show", violation=True)
        while marked < limit:
            due = list(map(text, self.redis.zrangebyscore(keys.NO_SHOW_DUE, "-inf", now.timestamp(), 0, SWEEP_BATCH)))
            if not due:
                break
            found = {a.serial: a for a in self.store.many(due)}
            stale = [serial for serial in due if serial not in found or found[serial].status != Status.booked]
            if stale:
                self.redis.zrem(keys.NO_SHOW_DUE, *stale)
            for serial in set(found) - set(stale):
                try:
                    self.store.transition(
                        found[serial], change, audit.SYSTEM, fields={"no_show_at": self.store.stamp()}
                    )
                except InvalidRequestError:  # checked in or cancelled a moment ago, or another worker was first
                    self.redis.zrem(keys.NO_SHOW_DUE, serial)
                    continue
                marked += 1
                affected.add(found[serial].pid)
                recorded.append(serial)
        for pid in affected:
            self.refresh(pid)
        self._tell(recorded)
        metrics().no_shows.inc(marked)
        return marked

    def _tell(self, serials: list[str]) -> None:
        """Queue the no-show notice of each no-show this sweep recorded (only the sweep whose transition won
        records it, so a sweep run twice, or by two workers, tells once; the notice's send-once key guards a retry)."""
        queue = job_queue(self.redis)
        for serial in serials:
            queue.enqueue(
                "bot.jobs.send_no_show",
                serial,
                job_id=f"no_show-{serial}",
                job_timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
                retry=NOTICE_RETRY,
                description=f"no-show notice of {serial}",
            )
