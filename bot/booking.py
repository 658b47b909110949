"""Booking and cancellation: ``rules`` decides, one Lua script commits.

A booking reads everything the decision needs in one round trip (``booking_facts.lua``), asks ``rules``, then
commits with ``book.lua``, which re-checks what can change concurrently — the places left in the slot and the
version of the patient's record — and, if nothing moved, takes the place, gives the next queue number and a
fresh 8-digit serial, writes and indexes the appointment and bumps the version, all at once. If something moved
the decision is made again (a bounded number of times). So the slot is never overbooked, no two patients share a
queue number, and one patient racing himself never passes a limit.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import rules
from bot import keys
from bot.appointments import AppointmentStore, Transition
from bot.errors import GuahaoError, InvalidRequestError, NotFoundError
from bot.metrics import metrics
from bot.records import Appointment, Slot, decode_hash, local_moment, text
from bot.scripts import Scripts
from bot.standing import standing_from_facts

Status = rules.AppointmentStatus
MAX_ATTEMPTS = 8
SERIAL_CANDIDATES = 3
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


def new_serials(count: int) -> list[str]:
    """``count`` random 8-digit serials (识别码) from one read of the OS's random source (a syscall per serial
    showed up under load); uniqueness is checked by the booking script."""
    raw = secrets.token_bytes(5 * count)
    return [str(10_000_000 + int.from_bytes(raw[i : i + 5], "big") % 90_000_000) for i in range(0, 5 * count, 5)]


class BookingService:
    """Books and cancels appointments."""

    def __init__(self, store: AppointmentStore) -> None:
        self.store = store
        self.redis = store.redis
        self.clock = store.clock
        self._scripts = Scripts(store.redis, "booking_facts", "book")

    # --- booking ---------------------------------------------------------------------------------------
    def book(self, pid: str, acct: str, channel: str, slot_id: str) -> Appointment:
        """Book ``slot_id`` for patient ``pid`` on behalf of account ``acct``; raises ``BookingRefused``."""
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            facts = self._facts(pid, slot_id, now)
            slot = facts.slot
            if slot is None:
                raise BookingRefused(rules.Decision.refuse("no_slot", detail=f"no slot {slot_id}"))
            policy = self.store.policy_for(slot.hospital)
            self._precheck(slot)
            decision = rules.check_booking(policy, facts.existing, slot.facts(policy.tz), facts.standing, now)
            if not decision.allowed:
                raise BookingRefused(decision)
            outcome, appointment = self._commit(pid, acct, channel, slot, facts.version, now, policy)
            if appointment is not None:
                metrics().bookings.labels(appointment.hospital).inc()
                return appointment
            if outcome in ("full", "closed", "no_slot"):
                self._precheck(self._slot_after_race(slot))
        raise BookingRefused(rules.Decision.refuse("busy", detail="too many concurrent changes, try again"))

    def _slot_after_race(self, slot: Slot) -> Slot:
        raw = self.redis.hgetall(keys.slot(slot.id))
        return Slot.from_hash(slot.id, raw) if raw else Slot.from_hash(slot.id, {"status": "gone"})

    @staticmethod
    def _precheck(slot: Slot) -> None:
        if slot.status != "open":
            raise BookingRefused(rules.Decision.refuse("slot_closed", detail="the clinic was suspended"))
        if slot.places_left <= 0:
            raise BookingRefused(rules.Decision.refuse("slot_full", detail="no places left in this slot"))

    def _facts(self, pid: str, slot_id: str, now: datetime) -> _Facts:
        raw_slot, version, raw_appointments, violations, waived, raw_standing = self._scripts.run(
            "booking_facts",
            keys=[
                keys.slot(slot_id),
                keys.patient_version(pid),
                keys.patient_appointments(pid),
                keys.patient_violations(pid),
                keys.patient_waived(pid),
                keys.standing(pid),
            ],
            args=[keys.appointment(""), int((now - HISTORY).timestamp())],
        )
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

    def _commit(
        self, pid: str, acct: str, channel: str, slot: Slot, version: str, now: datetime, policy: rules.Policy
    ) -> tuple[str, Appointment | None]:
        start = local_moment(slot.date, slot.start, policy.tz)
        end = local_moment(slot.date, slot.end, policy.tz)
        candidates = new_serials(SERIAL_CANDIDATES)
        fields = {
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
        }
        stamp = self.store.stamp(now)
        fields["booked_at"] = stamp
        args = [
            version,
            now.timestamp(),
            int(start.timestamp()),
            int(end.timestamp()),
            f"patient:{channel}",
            stamp,
            json.dumps(fields, ensure_ascii=False),
            *candidates,
        ]
        result = self._scripts.run(
            "book",
            keys=[
                keys.slot(slot.id),
                keys.patient_version(pid),
                keys.patient_appointments(pid),
                keys.slot_appointments(slot.id),
                keys.date_appointments(slot.date),
                keys.ALL_APPOINTMENTS,
                keys.NO_SHOW_DUE,
                keys.AUDIT,
                keys.patient(pid),
                *(keys.appointment(c) for c in candidates),
            ],
            args=args,
        )
        outcome = text(result[0])
        if outcome != "ok":
            return outcome, None
        return outcome, Appointment(
            serial=text(result[1]),
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
            queue_no=int(result[2]),
            status=Status.booked,
            pid=pid,
            acct=acct,
            channel=channel,
            patient_name_masked=text(result[3]),
            booked_at=datetime.fromisoformat(stamp),
            cancelled_at=None,
            refund_cents=None,
            checked_in_at=None,
        )

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
        cancelled = self.store.transition(appointment, change, actor, detail=detail, fields=fields)
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


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A flat [k1, v1, k2, v2, ...] reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
