"""The waitlist (候补, SPEC §8, RULES §10): join a full slot, a freed place offered to the first eligible waiter with a
hold, claimed with Y in time, passed on otherwise.

Every state change is one Lua script (``bot/storage/lua/waitlist_*.lua``). A place freed by a cancellation is routed
to the slot's waiters in the cancellation's own script (``transition.lua``: ``wl_free`` of the slot, never for sale);
offering (:mod:`bot.waitlist_offers`) holds each freed place for the first waiter the booking rules still allow
(``waitlist_offer.lua``: the place becomes ``wl_held``, the entry ``offered``), or skips a waiter with no place lost;
:meth:`WaitlistService.claim` turns a held place into the appointment (``waitlist_claim.lua``, book.lua's writes); a
hold that lapses on the deployment clock, or a claim a rule refuses, passes the place to the next waiter
(``waitlist_pass.lua``). Places for sale are ``capacity - taken - wl_free - wl_held``, so a place is never both held
and sold, and places taken never exceed the capacity. The offer itself is pushed by a job (``bot.jobs.send_offer``).
The reads are :mod:`bot.waitlist_entries`'.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from rq import Queue

import rules
from bot.booking import MAX_ATTEMPTS, BookingService
from bot.crypto import SecretBox
from bot.errors import GuahaoError, NotFoundError
from bot.metrics import metrics
from bot.patients import PatientService
from bot.records import Appointment, text
from bot.storage import keys
from bot.storage.scripts import Scripts
from bot.waitlist_entries import LIVE, STATUSES, TO_CONTEXT, Entry, Joined
from bot.waitlist_offers import Tick, WaitlistOffers

__all__ = [
    "LIVE",
    "STATUSES",
    "Entry",
    "Joined",
    "OfferGone",
    "PlaceAvailable",
    "Tick",
    "WaitlistRefused",
    "WaitlistService",
]


class WaitlistRefused(GuahaoError):
    """Joining (or claiming) is not allowed; ``decision`` names the rule."""

    def __init__(self, decision: rules.Decision) -> None:
        self.decision = decision
        super().__init__(f"waitlist refused: {decision.rule}")


class PlaceAvailable(GuahaoError):
    """The slot has a place for sale: book it rather than wait."""


class OfferGone(GuahaoError):
    """The offer is no longer there to claim: its hold lapsed, or it was passed on, left or claimed already."""

    def __init__(self, entry: Entry | None, why: str) -> None:
        self.entry = entry
        self.why = why
        super().__init__(f"offer gone: {why}")


class WaitlistService(WaitlistOffers):
    """Joins, leaves, offers, claims and expiries of the waitlist."""

    def __init__(
        self,
        booking: BookingService,
        patients: PatientService,
        box: SecretBox,
        queue: Queue | None = None,
    ) -> None:
        self.booking = booking
        self.store = booking.store
        self.patients = patients
        self.redis = booking.redis
        self.clock = booking.clock
        self.box = box
        self.queue = queue
        self.tz = self.store.config.policy.tz
        self._scripts = Scripts(
            self.redis,
            "waitlist_join",
            "waitlist_offer",
            "waitlist_pass",
            "waitlist_leave",
            "waitlist_close",
            "waitlist_capture",
            "waitlist_claim",
        )

    # --- joining and leaving -------------------------------------------------------------------------------
    def join(self, pid: str, acct: str, channel: str, to: str, slot_id: str, actor: str = "patient") -> Joined:
        """Wait for a full slot; raises :class:`WaitlistRefused` (the rule) or :class:`PlaceAvailable`."""
        patient = self.patients.get(pid)
        for _ in range(MAX_ATTEMPTS):
            slot, version, booking = self.booking.decide(pid, slot_id)
            if slot is None:
                raise WaitlistRefused(booking)
            policy = self.store.policy_for(slot.hospital)
            now = self.clock.now()
            waiting_for = [e.slot_facts(policy) for e in self.live_of_patient(pid)]
            decision = rules.check_join(policy, booking, slot.facts(policy.tz), waiting_for, now)
            if not decision.allowed:
                raise WaitlistRefused(decision)
            entry_id = secrets.token_hex(8)
            fields = {
                "pid": pid,
                "acct": acct,
                "channel": channel,
                "to_enc": self.box.encrypt(to, context=TO_CONTEXT),
                "patient_name_masked": patient.name_masked if patient else "",
                **{name: getattr(slot, name) for name in ("hospital", "department", "doctor", "doctor_name")},
                **{name: getattr(slot, name) for name in ("date", "start", "end")},
            }
            ends = rules.waiting_ends(policy, slot.facts(policy.tz))
            result = self._scripts.run(
                "waitlist_join",
                [
                    keys.waitlist_entry(entry_id),
                    keys.slot(slot_id),
                    keys.waitlist_queue(slot_id),
                    keys.waitlist_of_slot(slot_id),
                    keys.patient_waits(pid),
                    keys.account_waits(acct),
                    keys.waitlist_slots_of_date(slot.date),
                    keys.WAITLIST_ENDS,
                    keys.patient_version(pid),
                    keys.AUDIT,
                    keys.WAITLIST_SEQ,
                    keys.WAITLIST_DATES,
                ],
                [
                    entry_id,
                    version,
                    policy.waitlist_max_entries,
                    int(ends.timestamp()),
                    actor,
                    self.store.stamp(now),
                    json.dumps(fields, ensure_ascii=False),
                    slot_id,
                    keys.waitlist_entry(""),
                    slot.date,
                ],
            )
            outcome = text(result[0])
            if outcome == "ok":
                joined = self.get(entry_id)
                assert joined is not None
                return Joined(joined, int(result[1]))
            if outcome == "available":
                raise PlaceAvailable(slot_id)
            if outcome != "moved":
                rule = {"already": "waitlist_already", "max": "waitlist_max", "closed": "slot_closed"}.get(outcome)
                raise WaitlistRefused(rules.Decision.refuse(rule or "no_slot"))
        raise WaitlistRefused(rules.Decision.refuse("busy"))

    def leave(self, acct: str, entry_id: str, actor: str = "patient") -> Entry:
        """Leave one's own live entry (an offered one passes its place on); ``NotFoundError`` for another's."""
        entry = self.get(entry_id)
        if entry is None or entry.acct != acct or not entry.live:
            raise NotFoundError(f"no live waitlist entry {entry_id!r}")
        policy = self.store.policy_for(entry.hospital)
        open_ = rules.waiting_open(policy, entry.slot_facts(policy), self.clock.now())
        self._scripts.run(
            "waitlist_leave",
            self._end_keys(entry),
            [entry.id, self.store.stamp(), entry.slot, "1" if open_ else "0", actor],
        )
        self.offer_pending([entry.slot])
        left = self.get(entry_id)
        assert left is not None
        return left

    # --- claiming ------------------------------------------------------------------------------------------
    def claim(self, acct: str, entry_id: str) -> Appointment:
        """Book the place held for ``entry_id`` (the account's, in time, every limit passing again); raises
        :class:`OfferGone` or :class:`WaitlistRefused` (the place then goes to the next waiter)."""
        entry = self.get(entry_id)
        if entry is None or entry.acct != acct or entry.status != "offered" or entry.hold_until is None:
            raise OfferGone(entry, "gone")
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            slot, version, booking = self.booking.decide(entry.pid, entry.slot)
            decision = rules.check_claim(booking, entry.hold_until, now)
            if slot is None or not decision.allowed:
                return self._refuse_claim(entry, decision, now)
            commit_keys, args, stamp = self.booking.commit_call(
                entry.pid, entry.acct, entry.channel, slot, version, now
            )
            own_keys = [
                keys.waitlist_entry(entry.id),
                keys.WAITLIST_OFFERS,
                keys.patient_waits(entry.pid),
                keys.account_offers(entry.acct),
            ]
            result = self.booking.commit(
                self._scripts, "waitlist_claim", [*own_keys, *commit_keys], [entry.id, now.timestamp(), *args]
            )
            outcome = text(result[0])
            if outcome == "ok":
                metrics().bookings.labels(slot.hospital).inc()
                return self.booking.booked(entry.pid, entry.acct, entry.channel, slot, stamp, result)
            if outcome == "expired":
                self._pass(entry, "expire", "offer_expired", now)
                self.offer_pending([entry.slot])
                raise OfferGone(entry, "expired")
            if outcome == "gone":
                raise OfferGone(self.get(entry.id), "gone")
            if outcome == "closed":  # the clinic was suspended (停诊) after the decision: no appointment in it
                return self._refuse_claim(entry, rules.Decision.refuse("slot_closed"), now)
        raise WaitlistRefused(rules.Decision.refuse("busy"))

    def _refuse_claim(self, entry: Entry, decision: rules.Decision, now: datetime) -> Appointment:
        """A claim refused: the place goes to the next waiter; the refusal raised."""
        mode = "expire" if decision.rule == "offer_expired" else "refuse"
        self._pass(entry, mode, decision.rule or "refused", now)
        self.offer_pending([entry.slot])
        if decision.rule == "offer_expired":
            raise OfferGone(entry, "expired")
        raise WaitlistRefused(decision)
