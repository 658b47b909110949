"""Booking and cancellation: ``rules`` decides, one Lua script commits.

A booking reads everything the decision needs in one round trip (``booking_facts.lua``), asks ``rules``, then
commits with ``book.lua``, which re-checks what can change concurrently — the places left in the slot and the
version of the patient's record — and, if nothing moved, takes the place, gives the next queue number and a
fresh 8-digit serial, writes and indexes the appointment and bumps the version, all at once. If something moved
the decision is made again (a bounded number of times). So the slot is never overbooked, no two patients share a
queue number, and one patient racing himself never passes a limit.

Each commit carries the request's id (the inbound message's, when the dialog has one): the same request committed
again — a pipeline retried after a failover lost its reply, a webhook retry of the same message — returns the
booking it made instead of making a second. A booking or cancellation goes through the durable step
(``bot.storage.scripts``): when ``min_replicas_ack`` replicas do not confirm it, :class:`~bot.settle.OutcomeUnconfirmed`
is raised instead of an answer of "done".
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import rules
from bot.appointments import AppointmentStore, Transition
from bot.combiner import Combiner, Ticket
from bot.errors import GuahaoError, InvalidRequestError, NotFoundError
from bot.metrics import metrics
from bot.patients import PatientService
from bot.records import Appointment, Slot, decode_hash, local_moment, text
from bot.settle import BOOKING, CANCELLATION, RESCHEDULE, OutcomeUnconfirmed, Settlements
from bot.standing import standing_from_facts
from bot.storage import keys
from bot.storage.scripts import Scripts

Status = rules.AppointmentStatus
MAX_ATTEMPTS = 8
MAX_BATCH = 32
SERIAL_CANDIDATES = 3
SETTLE_KINDS = {"reschedule": RESCHEDULE}
"""The settlement kind of a commit script's unconfirmed outcome (else a booking: a waitlist claim is one)."""
LAST_BOOKING = "lb"
"""The patient hash's field ``book.lua`` keeps the last booking request in: ``<request id> <serial> <queue no>``."""
HISTORY = timedelta(days=100)
"""Bookings older than this can affect no limit (3 months + the booking window): not read for a decision."""


class BookingRefused(GuahaoError):
    """The booking is not allowed; ``decision`` names the rule and when it stops applying."""

    def __init__(self, decision: rules.Decision) -> None:
        self.decision = decision
        when = f" until {decision.retry_after.isoformat()}" if decision.retry_after else ""
        super().__init__(
            f"booking refused: {decision.rule}{when}" + (f" ({decision.detail})" if decision.detail else "")
        )


class CancelRefused(GuahaoError):
    """The cancellation is not allowed (too late); ``terms`` say why and what the deadline was."""

    def __init__(self, terms: rules.CancelTerms) -> None:
        self.terms = terms
        super().__init__(f"cancellation refused: {terms.rule} (deadline {terms.deadline.isoformat()})")


@dataclass(frozen=True)
class _Facts:
    slot: Slot | None
    version: str
    existing: list[rules.AppointmentFacts]
    standing: rules.Standing


BookingFacts = _Facts
"""What a booking decision reads: the slot, the patient's record version, appointments and standing."""


def new_serials(count: int) -> list[str]:
    """``count`` random 8-digit serials (识别码) from one read of the OS's random source (a syscall per serial
    showed up under load); uniqueness is checked by the booking script."""
    raw = secrets.token_bytes(5 * count)
    return [str(10_000_000 + int.from_bytes(raw[i : i + 5], "big") % 90_000_000) for i in range(0, 5 * count, 5)]


def appointment_fields(slot: Slot, pid: str, acct: str, channel: str, stamp: str) -> dict[str, str]:
    """A new appointment of ``slot`` as a script taking a place writes it (the script adds the serial, the queue
    number, the status and the masked name)."""
    return {
        "slot": slot.id,
        "hospital": slot.hospital,
        "department": slot.department,
        "doctor": slot.doctor,
        "doctor_name": slot.doctor_name,
        "level": slot.level.value,
        "date": slot.date,
        "start": slot.start,
        "end": slot.end,
        "fee_cents": str(slot.fee_cents),
        "pid": pid,
        "acct": acct,
        "channel": channel,
        "booked_at": stamp,
    }


def place_keys(slot: Slot, pid: str) -> list[str]:
    """The keys a script taking a place in ``slot`` for ``pid`` starts with: the slot, the patient's record version
    and appointments, the slot's and the day's appointments."""
    return [
        keys.slot(slot.id),
        keys.patient_version(pid),
        keys.patient_appointments(pid),
        keys.slot_appointments(slot.id),
        keys.date_appointments(slot.date),
    ]


def visit_epochs(slot: Slot, tz: ZoneInfo) -> tuple[int, int]:
    """When the visit of ``slot`` starts and ends (epoch seconds), in the hospital's time zone ``tz``."""
    return (
        int(local_moment(slot.date, slot.start, tz).timestamp()),
        int(local_moment(slot.date, slot.end, tz).timestamp()),
    )


@dataclass(frozen=True)
class _BookRequest:
    pid: str
    acct: str
    channel: str
    slot_id: str
    request_id: str = ""  # the same id again returns the booking it made (book.lua); "" for none


@dataclass(frozen=True)
class _Commit:
    ticket: Ticket[_BookRequest, Appointment]
    slot: Slot
    stamp: str


class BookingService:
    """Books and cancels appointments."""

    def __init__(self, store: AppointmentStore, patients: PatientService, settlements: Settlements) -> None:
        self.store = store
        self.patients = patients  # whose birth date and sex a department's limits need (RULES §9)
        self.settlements = settlements  # where an unconfirmed outcome is handed (bot.settle)
        self.redis = store.redis
        self.clock = store.clock
        self.durability = settlements.durability
        self._unconfirmed = threading.local()  # what this thread's last :meth:`commit` left unconfirmed
        self._scripts = Scripts(store.redis, "booking_facts", "book")
        self._combiner: Combiner[_BookRequest, Appointment] = Combiner(self._book_batch, MAX_BATCH)

    # --- booking ---------------------------------------------------------------------------------------
    def book(self, pid: str, acct: str, channel: str, slot_id: str, *, request_id: str | None = None) -> Appointment:
        """Book ``slot_id`` for patient ``pid`` on behalf of account ``acct``; raises ``BookingRefused``, or
        ``OutcomeUnconfirmed`` when the replicas did not confirm it in time. ``request_id``: the same id again
        returns the booking it made (a retried message); a random one when not given.

        Concurrent calls of one process are batched (``bot.combiner``): a batch's commits and the facts of the
        callers waiting behind it go in one pipeline; each commit is still its own atomic script.
        """
        request = _BookRequest(pid, acct, channel, slot_id, request_id or secrets.token_hex(6))
        appointment = self._combiner.submit(request)
        metrics().bookings.labels(appointment.hospital).inc()
        return appointment

    def _book_batch(self, batch: list[Ticket[_BookRequest, Appointment]]) -> list[Ticket[_BookRequest, Appointment]]:
        """Decide and commit a batch of bookings; the tickets to go on with (something moved meanwhile, or the facts
        of the next callers were read in the same round trip as these commits)."""
        now = self.clock.now()
        stamp = self.store.stamp(now)
        unread = [t for t in batch if t.carry is None]
        if unread:
            pipe = self.redis.pipeline(transaction=False)
            for ticket in unread:
                self._scripts.queue(pipe, "booking_facts", *self._facts_call(ticket.request, now))
            for ticket, reply in zip(unread, self._scripts.execute(pipe), strict=True):
                ticket.carry = reply
        commits: list[_Commit] = []
        pipe = self.redis.pipeline(transaction=False)
        for ticket in batch:
            try:
                facts = self._facts_from(ticket.request.slot_id, ticket.carry, now)
                ticket.carry = None  # used: a retry reads afresh
                slot = self._decide_again(facts, ticket.request, now)
            except Exception as refused:  # this caller's answer; the others go on
                ticket.fail(refused)
                continue
            self._scripts.queue(pipe, "book", *self._commit_call(ticket.request, slot, facts.version, now, stamp))
            commits.append(_Commit(ticket, slot, stamp))
        if not commits:
            return []
        # the facts of whoever is waiting now travel with these commits, read after them: one round trip a batch
        upcoming = self._combiner.take(MAX_BATCH)
        for ticket in upcoming:
            self._scripts.queue(pipe, "booking_facts", *self._facts_call(ticket.request, now))
        try:
            results, confirmed = self._scripts.execute_durable(pipe, self.durability)  # the durable step
        except BaseException as failure:  # they left the queue with this batch: they fail with it
            for ticket in upcoming:
                ticket.fail(failure)
            raise
        for ticket, reply in zip(upcoming, results[len(commits) :], strict=True):
            ticket.carry = reply
        settled = (self._settle(commit, reply, confirmed) for commit, reply in zip(commits, results, strict=False))
        return [ticket for ticket in settled if ticket is not None] + upcoming

    def _decide_again(self, facts: _Facts, request: _BookRequest, now: datetime) -> Slot:
        """:meth:`_decide`, except that a request that already booked (its first answer lost in a failover, or a
        webhook retry of its message) is committed again: ``book.lua`` then returns the booking it made."""
        try:
            return self._decide(facts, request, now)
        except BookingRefused as refused:
            if refused.decision.rule != "already_booked" or facts.slot is None:
                raise
            marker = self.redis.hget(keys.patient(request.pid), LAST_BOOKING)
            if marker is None or not text(marker).startswith(request.request_id + " "):
                raise
            return facts.slot

    def facts_of(self, wanted: Sequence[tuple[str, str]]) -> list[BookingFacts]:
        """What a booking decision needs for each (pid, slot id), in one round trip (a lottery draw decides many)."""
        now = self.clock.now()
        pipe = self.redis.pipeline(transaction=False)
        for pid, slot_id in wanted:
            self._scripts.queue(pipe, "booking_facts", *self._facts_call(_BookRequest(pid, "", "", slot_id, ""), now))
        replies = self._scripts.execute(pipe)
        return [self._facts_from(slot_id, reply, now) for (_, slot_id), reply in zip(wanted, replies, strict=True)]

    def check_department(self, slot: Slot, pid: str) -> None:
        """Raise ``BookingRefused`` when the department does not see this patient (age or sex, RULES §9)."""
        self._check_department(slot, pid)

    def _decide(self, facts: _Facts, request: _BookRequest, now: datetime) -> Slot:
        """The slot to commit, or ``BookingRefused`` naming the rule."""
        slot = facts.slot
        if slot is None:
            raise BookingRefused(rules.Decision.refuse("no_slot", detail=f"no slot {request.slot_id}"))
        policy = self.store.policy_for(slot.hospital)
        self._precheck(slot)
        self._check_department(slot, request.pid)
        decision = rules.check_booking(policy, facts.existing, slot.facts(policy.tz), facts.standing, now)
        if not decision.allowed:
            raise BookingRefused(decision)
        return slot

    def _check_department(self, slot: Slot, pid: str) -> None:
        """Refuse a patient the department does not see (age or sex, RULES §9); the ID is decrypted only then."""
        hospital = self.store.config.hospital(slot.hospital)
        department = hospital.department(slot.department) if hospital is not None else None
        if department is None or not department.limits.restricted:
            return
        decision = rules.department_allows(
            department.limits, self.patients.person_of(pid), date.fromisoformat(slot.date)
        )
        if not decision.allowed:
            raise BookingRefused(decision)

    def _settle(self, commit: _Commit, reply: Any, confirmed: bool) -> Ticket[_BookRequest, Appointment] | None:
        """Answer the caller of one commit; the ticket back when it must be decided again."""
        ticket = commit.ticket
        outcome = text(reply[0])
        if outcome == "ok":
            booked = self._booked(ticket.request, commit.slot, commit.stamp, reply)
            if confirmed:
                ticket.succeed(booked)
            else:  # made on the primary, not (yet) on enough replicas: not "done" to the patient
                ticket.fail(OutcomeUnconfirmed(BOOKING, booked))
            return None
        if outcome in ("full", "closed", "no_slot"):
            try:
                self._precheck(self._slot_after_race(commit.slot))  # still refused: say why
            except BookingRefused as refused:
                ticket.fail(refused)
                return None
        ticket.attempts += 1  # the patient's record moved, a serial clashed, or a place came back: decide again
        if ticket.attempts >= MAX_ATTEMPTS:
            ticket.fail(BookingRefused(rules.Decision.refuse("busy", detail="too many concurrent changes")))
            return None
        return ticket

    def _slot_after_race(self, slot: Slot) -> Slot:
        raw = self.redis.hgetall(keys.slot(slot.id))
        return Slot.from_hash(slot.id, raw) if raw else Slot.from_hash(slot.id, {"status": "gone"})

    @staticmethod
    def _precheck(slot: Slot) -> None:
        if slot.status != "open":
            raise BookingRefused(rules.Decision.refuse("slot_closed", detail="the clinic was suspended"))
        if slot.places_left <= 0:
            raise BookingRefused(rules.Decision.refuse("slot_full", detail="no places left in this slot"))

    @staticmethod
    def _facts_call(request: _BookRequest, now: datetime) -> tuple[list[str], list[Any]]:
        pid = request.pid
        slot_keys = [
            keys.slot(request.slot_id),
            keys.patient_version(pid),
            keys.patient_appointments(pid),
            keys.patient_violations(pid),
            keys.patient_waived(pid),
            keys.standing(pid),
        ]
        return slot_keys, [keys.appointment(""), int((now - HISTORY).timestamp())]

    def _facts_from(self, slot_id: str, reply: Any, now: datetime) -> _Facts:
        raw_slot, version, raw_appointments, violations, waived, raw_standing = reply
        slot = Slot.from_hash(slot_id, _pairs(raw_slot)) if raw_slot else None
        existing = []
        for raw in raw_appointments:
            appointment = Appointment.from_hash(_pairs(raw))
            existing.append(appointment.facts(self.store.policy_for(appointment.hospital).tz))
        standing = standing_from_facts(
            self.store.config.policy,
            _pairs(violations),
            {w.decode() for w in waived},
            decode_hash(_pairs(raw_standing)),
            now,
        )
        return _Facts(slot, version.decode(), existing, standing)

    def _commit_call(
        self, request: _BookRequest, slot: Slot, version: str, now: datetime, stamp: str
    ) -> tuple[list[str], list[Any]]:
        policy = self.store.policy_for(slot.hospital)
        candidates = new_serials(SERIAL_CANDIDATES)
        fields = appointment_fields(slot, request.pid, request.acct, request.channel, stamp)
        args = [
            version,
            now.timestamp(),
            *visit_epochs(slot, policy.tz),
            f"patient:{request.channel}",
            stamp,
            json.dumps({**fields, **_request_field(request.request_id)}, ensure_ascii=False),
            *candidates,
        ]
        commit_keys = [
            *place_keys(slot, request.pid),
            keys.ALL_APPOINTMENTS,
            keys.NO_SHOW_DUE,
            keys.AUDIT,
            keys.patient(request.pid),
            *(keys.appointment(c) for c in candidates),
        ]
        return commit_keys, args

    @staticmethod
    def _booked(request: _BookRequest, slot: Slot, stamp: str, reply: Any) -> Appointment:
        return Appointment(
            serial=text(reply[1]),
            slot=slot.id,
            hospital=slot.hospital,
            department=slot.department,
            doctor=slot.doctor,
            doctor_name=slot.doctor_name,
            level=slot.level,
            date=slot.date,
            start=slot.start,
            end=slot.end,
            fee_cents=slot.fee_cents,
            queue_no=int(reply[2]),
            status=Status.booked,
            pid=request.pid,
            acct=request.acct,
            channel=request.channel,
            patient_name_masked=text(reply[3]),
            booked_at=datetime.fromisoformat(stamp),
            cancelled_at=None,
            refund_cents=None,
            checked_in_at=None,
        )

    # --- for the services that book through a held place or a move (bot.waitlist, bot.reschedule) ----------
    def decide(self, pid: str, slot_id: str, *, without: str | None = None) -> tuple[Slot | None, str, rules.Decision]:
        """The slot, the patient's version and the booking rules' answer for ``pid`` and ``slot_id`` now, read in one
        round trip; the places left aside (the caller holds or checks them), the appointment ``without`` counted as
        if it did not exist (a move, RULES §11)."""
        return self.decide_many([(pid, slot_id)], without=without)[0]

    def decide_many(
        self, wanted: list[tuple[str, str]], *, without: str | None = None
    ) -> list[tuple[Slot | None, str, rules.Decision]]:
        """:meth:`decide` for many (pid, slot id) pairs, their facts read in one round trip."""
        now = self.clock.now()
        pipe = self.redis.pipeline(transaction=False)
        for pid, slot_id in wanted:
            self._scripts.queue(pipe, "booking_facts", *self._facts_call(_BookRequest(pid, "", "", slot_id, ""), now))
        replies = self._scripts.execute(pipe) if wanted else []
        return [
            self._decided(pid, self._facts_from(slot_id, reply, now), slot_id, without, now)
            for (pid, slot_id), reply in zip(wanted, replies, strict=True)
        ]

    def _decided(
        self, pid: str, facts: _Facts, slot_id: str, without: str | None, now: datetime
    ) -> tuple[Slot | None, str, rules.Decision]:
        slot = facts.slot
        if slot is None:
            return None, facts.version, rules.Decision.refuse("no_slot", detail=f"no slot {slot_id}")
        if slot.status != "open":
            return slot, facts.version, rules.Decision.refuse("slot_closed", detail="the clinic was suspended")
        try:
            self._check_department(slot, pid)
        except BookingRefused as refused:
            return slot, facts.version, refused.decision
        policy = self.store.policy_for(slot.hospital)
        existing = rules.others(facts.existing, without) if without else facts.existing
        decision = rules.check_booking(policy, existing, slot.facts(policy.tz), facts.standing, now)
        return slot, facts.version, decision

    def commit_call(
        self, pid: str, acct: str, channel: str, slot: Slot, version: str, now: datetime
    ) -> tuple[list[str], list[Any], str]:
        """The keys and arguments ``book.lua`` takes to write an appointment of ``slot`` (another script taking a
        place appends them to its own), and the booking stamp."""
        stamp = self.store.stamp(now)
        commit_keys, args = self._commit_call(_BookRequest(pid, acct, channel, slot.id, ""), slot, version, now, stamp)
        return commit_keys, args, stamp

    def commit(self, scripts: Scripts, name: str, commit_keys: list[str], args: list[Any]) -> Any:
        """Run one commit script that takes a place outside :meth:`book` (a waitlist claim, a move): the one path such
        commits share, through the durable step (``WAIT``, SPEC §7). When the replicas do not confirm it, the
        :meth:`booked` that follows in this thread raises ``OutcomeUnconfirmed`` instead of returning."""
        commit = scripts.run_durable(name, commit_keys, args, self.durability)
        self._unconfirmed.kind = None if commit.confirmed else SETTLE_KINDS.get(name, BOOKING)
        return commit.reply

    def booked(self, pid: str, acct: str, channel: str, slot: Slot, stamp: str, reply: Any) -> Appointment:
        """The appointment a commit script's ``{'ok', serial, queue_no, name}`` reply wrote; ``OutcomeUnconfirmed``
        when that commit (:meth:`commit`, this thread's last) was not confirmed by the replicas."""
        appointment = BookingService._booked(_BookRequest(pid, acct, channel, slot.id, ""), slot, stamp, reply)
        kind, self._unconfirmed.kind = getattr(self._unconfirmed, "kind", None), None
        if kind is not None:
            raise OutcomeUnconfirmed(kind, appointment)
        return appointment

    # --- cancellation ----------------------------------------------------------------------------------
    def cancel_terms(
        self, serial: str, *, pids: Collection[str] | None = None
    ) -> tuple[Appointment, rules.CancelTerms]:
        """What cancelling now would mean (refund, violation, or too late): stated before the patient confirms."""
        appointment = self._owned(serial, pids)
        policy = self.store.policy_for(appointment.hospital)
        return appointment, rules.cancel_terms(policy, appointment.slot_facts(policy.tz), self.clock.now())

    def cancel(
        self, serial: str, actor: str, *, pids: Collection[str] | None = None
    ) -> tuple[Appointment, rules.CancelTerms]:
        """Cancel by the patient (``pids``: the patients the caller may act for); raises ``CancelRefused``."""
        appointment, terms = self.cancel_terms(serial, pids=pids)
        if appointment.status != Status.booked:
            raise InvalidRequestError(f"appointment {appointment.serial} is {appointment.status}, not booked")
        if terms.outcome == rules.CancelOutcome.refused:
            raise CancelRefused(terms)
        late = terms.outcome == rules.CancelOutcome.late
        change = Transition(
            allowed_from=(Status.booked,),
            to=Status.cancelled_late if late else Status.cancelled,
            action="cancelled_late" if late else "cancelled",
            release_place=True,
            violation=terms.violation,
        )
        fields = {"cancelled_at": self.store.stamp(), "refund_cents": str(terms.refund_cents)}
        detail = f"refund_cents={terms.refund_cents}"
        try:
            cancelled = self.store.transition(
                appointment, change, actor, detail=detail, fields=fields, durability=self.durability
            )
        except OutcomeUnconfirmed as unconfirmed:
            raise OutcomeUnconfirmed(CANCELLATION, unconfirmed.appointment) from None
        metrics().cancellations.labels("patient").inc()
        return cancelled, terms

    def cancel_by_hospital(self, serial: str, actor: str, *, release_place: bool = True) -> Appointment:
        """Cancel on the hospital's side (停诊): never a violation, full refund."""
        appointment = self.store.require(serial)
        policy = self.store.policy_for(appointment.hospital)
        terms = rules.hospital_cancel_terms(appointment.slot_facts(policy.tz))
        change = Transition(
            allowed_from=(Status.booked,),
            to=Status.cancelled_by_hospital,
            action="cancelled_by_hospital",
            release_place=release_place,
        )
        fields = {"cancelled_at": self.store.stamp(), "refund_cents": str(terms.refund_cents)}
        cancelled = self.store.transition(appointment, change, actor, detail="full refund", fields=fields)
        metrics().cancellations.labels("hospital").inc()
        return cancelled

    def _owned(self, serial: str, pids: Collection[str] | None) -> Appointment:
        appointment = self.store.require(serial)
        if pids is not None and appointment.pid not in pids:
            raise NotFoundError(f"no appointment with serial {serial!r}")  # never confirm someone else's serial
        return appointment


def _request_field(request_id: str) -> dict[str, str]:
    """The request's id for ``book.lua``'s idempotency (read and dropped there, never stored on the appointment);
    none for the commits other scripts take a place with (a waitlist claim, a move)."""
    return {"_request": request_id} if request_id else {}


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A flat [k1, v1, k2, v2, ...] reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
