"""The waitlist (候补, SPEC §8, RULES §10): join a full slot, a freed place offered to the first eligible waiter with a
hold, claimed with Y in time, passed on otherwise.

Every state change is one Lua script (``bot/storage/lua/waitlist_*.lua``). A place freed by a cancellation is routed
to the slot's waiters in the cancellation's own script (``transition.lua``: ``wl_free`` of the slot, never for sale);
:meth:`WaitlistService.offer_pending` then offers each freed place to the first waiter the booking rules still allow
(``waitlist_offer.lua``: the place becomes ``wl_held``, the entry ``offered``, or the entry is skipped with no place
lost); :meth:`WaitlistService.claim` turns a held place into the appointment (``waitlist_claim.lua``, book.lua's
writes); a hold that lapses on the deployment clock, or a claim a rule refuses, passes the place to the next waiter
(``waitlist_pass.lua``). Places for sale are ``capacity - taken - wl_free - wl_held``, so a place is never both held
and sold, and places taken never exceed the capacity. The offer itself is pushed by a job (``bot.jobs.send_offer``).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Queue

import rules
from bot.booking import MAX_ATTEMPTS, BookingService
from bot.crypto import SecretBox
from bot.errors import GuahaoError, NotFoundError
from bot.metrics import metrics
from bot.patients import PatientService
from bot.records import Appointment, Slot, decode_hash, local_moment, text
from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

LIVE = ("waiting", "offered")
STATUSES = ("waiting", "offered", "booked", "expired", "left")
RESEND_AFTER = timedelta(minutes=2)
"""An offer whose push is not known to be sent this long after it was queued is queued again."""
OFFER_BATCH = 64
"""At most this many waiters of a slot are decided and offered in one round trip."""
SWEEP_LIMIT = 1_000
"""At most this many lapsed offers or ended waitlists are handled per periodic call (the next call goes on)."""
_TO_CONTEXT = "waitlist.to"


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


@dataclass(frozen=True)
class Entry:
    """One waitlist entry as stored (``keys.waitlist_entry``): no personal data in clear."""

    id: str
    slot: str
    pid: str
    acct: str
    channel: str
    status: str
    seq: int
    hold_until: datetime | None
    serial: str
    reason: str
    patient_name_masked: str
    hospital: str
    department: str
    doctor: str
    doctor_name: str
    date: str
    start: str
    end: str

    @classmethod
    def from_hash(cls, raw: Any, tz: Any) -> Entry:
        """Build from the stored hash (``tz``: where a hold's end is shown)."""
        f = decode_hash(raw)
        hold = f.get("hold_until", "")
        return cls(
            id=f["id"],
            slot=f["slot"],
            pid=f.get("pid", ""),
            acct=f.get("acct", ""),
            channel=f.get("channel", ""),
            status=f.get("status", ""),
            seq=int(f.get("seq", "0")),
            hold_until=datetime.fromtimestamp(float(hold), tz) if hold else None,
            serial=f.get("serial", ""),
            reason=f.get("reason", ""),
            patient_name_masked=f.get("patient_name_masked", ""),
            hospital=f.get("hospital", ""),
            department=f.get("department", ""),
            doctor=f.get("doctor", ""),
            doctor_name=f.get("doctor_name", ""),
            date=f.get("date", ""),
            start=f.get("start", ""),
            end=f.get("end", ""),
        )

    @property
    def live(self) -> bool:
        """Waiting or offered."""
        return self.status in LIVE

    def slot_facts(self, policy: rules.Policy, level: rules.FeeClass = rules.FeeClass.general) -> rules.SlotFacts:
        """What ``rules`` needs of the slot waited for."""
        start = local_moment(self.date, self.start, policy.tz)
        return rules.SlotFacts(
            self.hospital, self.department, self.doctor, level, 0, start, local_moment(self.date, self.end, policy.tz)
        )


@dataclass(frozen=True)
class Joined:
    """A new entry and its place in the queue (1 = next to be offered)."""

    entry: Entry
    position: int


@dataclass(frozen=True)
class Tick:
    """What one periodic call did."""

    closed: int
    expired: int
    offered: int


class WaitlistService:
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
        self.redis: redis.Redis = booking.redis
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

    # --- reads ---------------------------------------------------------------------------------------------
    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, if any."""
        raw = self.redis.hgetall(keys.waitlist_entry(entry_id))
        return Entry.from_hash(raw, self.tz) if raw else None

    def many(self, ids: Iterable[Any]) -> list[Entry]:
        """The entries of these ids, in one round trip (missing ones skipped)."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in map(text, ids):
            pipe.hgetall(keys.waitlist_entry(entry_id))
        return [Entry.from_hash(raw, self.tz) for raw in pipe.execute() if raw]

    def of_account(self, acct: str) -> list[Entry]:
        """The live entries an account made, in the order they joined (the numbers of 退出候补 <n>)."""
        return [e for e in self.many(self.redis.zrange(keys.account_waits(acct), 0, -1)) if e.live]

    def live_of_patient(self, pid: str) -> list[Entry]:
        """The patient's live entries (at most ``waitlist_max_entries``)."""
        return [e for e in self.many(self.redis.smembers(keys.patient_waits(pid))) if e.live]

    def position(self, entry: Entry) -> int | None:
        """Where a waiting entry stands in its queue (1 = next), else None."""
        rank = self.redis.zrank(keys.waitlist_queue(entry.slot), entry.id)
        return None if rank is None else int(rank) + 1  # type: ignore[arg-type]

    def pending_offer(self, acct: str, *, lapsed: bool = False) -> Entry | None:
        """The account's offer still held now (the soonest to lapse), if any: what a ``Y`` claims (``lapsed``: also
        one whose hold lapsed but that the periodic duty has not passed on yet, so the patient is told)."""
        ids = self.redis.smembers(keys.account_offers(acct))
        if not ids:
            return None
        now = self.clock.now()
        held = [e for e in self.many(ids) if e.status == "offered" and e.hold_until and (lapsed or e.hold_until > now)]
        return min(held, key=lambda e: (e.hold_until, e.seq)) if held else None

    def listing(
        self, *, day: str | None = None, hospital: str | None = None, department: str | None = None
    ) -> list[tuple[Entry, int]]:
        """The staff view: every entry of the matching slots with its place in the order of joining."""
        days = [day] if day else sorted(text(d) for d in self.redis.smembers(keys.WAITLIST_DATES))
        found: list[tuple[Entry, int]] = []
        for one_day in days:
            for slot_id in sorted(text(s) for s in self.redis.smembers(keys.waitlist_slots_of_date(one_day))):
                hospital_id, department_id = slot_id.split("|")[:2]
                if (hospital and hospital != hospital_id) or (department and department != department_id):
                    continue
                entries = self.many(self.redis.zrange(keys.waitlist_of_slot(slot_id), 0, -1))
                found += [(entry, n) for n, entry in enumerate(entries, start=1)]
        return sorted(found, key=lambda pair: (pair[0].date, pair[0].start, pair[0].slot, pair[1]))

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
                "to_enc": self.box.encrypt(to, context=_TO_CONTEXT),
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

    def _end_keys(self, entry: Entry) -> list[str]:
        """The keys of ``waitlist_pass.lua`` and ``waitlist_leave.lua`` for one entry."""
        return [
            keys.waitlist_entry(entry.id),
            keys.slot(entry.slot),
            keys.waitlist_queue(entry.slot),
            keys.WAITLIST_OFFERS,
            keys.WAITLIST_PENDING,
            keys.patient_waits(entry.pid),
            keys.account_offers(entry.acct),
            keys.AUDIT,
        ]

    # --- offering --------------------------------------------------------------------------------------------
    def capacity_changed(self, slot_ids: Iterable[str]) -> int:
        """After a schedule import: places for sale in slots with waiters go to the waiters first; offers made."""
        ids = list(slot_ids)
        pipe = self.redis.pipeline(transaction=False)
        for slot_id in ids:
            pipe.exists(keys.waitlist_queue(slot_id))
        waited = [slot_id for slot_id, exists in zip(ids, pipe.execute(), strict=True) if exists]
        for slot_id in waited:
            self._scripts.run(
                "waitlist_capture",
                [keys.slot(slot_id), keys.waitlist_queue(slot_id), keys.WAITLIST_PENDING],
                [slot_id],
            )
        return self.offer_pending(waited) if waited else 0

    def offer_pending(self, slot_ids: Iterable[str] | None = None) -> int:
        """Offer every place freed for waiters (of ``slot_ids``, else of every slot that has some); the offers made.
        Each offer's push is queued as a job (``bot.jobs.send_offer``)."""
        ids = list(slot_ids) if slot_ids is not None else [text(s) for s in self.redis.smembers(keys.WAITLIST_PENDING)]
        offered = [entry_id for slot_id in ids for entry_id in self._offer_slot(slot_id)]
        self._enqueue_sends(offered)
        return len(offered)

    def _offer_slot(self, slot_id: str) -> list[str]:
        raw = self.redis.hgetall(keys.slot(slot_id))
        if not raw:
            return []
        slot = Slot.from_hash(slot_id, raw)
        policy = self.store.policy_for(slot.hospital)
        now = self.clock.now()
        until = rules.hold_until(policy, slot.facts(policy.tz), now)
        if until is None:  # waiting ended: the places go back to the hospital's desk
            self._close(slot_id, now)
            return []
        offered: list[str] = []
        free = slot.wl_free
        for _ in range(SWEEP_LIMIT):
            if free <= 0:
                break
            # the first waiters, as many as there are places to offer, decided and offered in a few round trips;
            # each offer is still its own script, which re-checks that the place and the waiter are still there
            entries = self.many(self.redis.zrange(keys.waitlist_queue(slot_id), 0, min(free, OFFER_BATCH) - 1))
            if not entries:
                break
            decisions = self.booking.decide_many([(entry.pid, slot_id) for entry in entries])
            outcomes = self._offer_batch(entries, decisions, until, now)
            offered += [entry.id for entry, outcome in zip(entries, outcomes, strict=True) if outcome == "offered"]
            if "none" in outcomes:
                break
            free = int(self.redis.hget(keys.slot(slot_id), "wl_free") or 0)
        return offered

    def _offer_batch(
        self,
        entries: list[Entry],
        decisions: list[tuple[Slot | None, str, rules.Decision]],
        until: datetime,
        now: datetime,
    ) -> list[str]:
        """Offer the place to each entry in turn (or skip one a rule refuses now), one script each, in one round
        trip: ``offered``, ``skipped``, ``none`` (no place left to offer) or ``retry`` for each."""
        pipe = self.redis.pipeline(transaction=False)
        stamp = self.store.stamp(now)
        modes = []
        for entry, (_, version, decision) in zip(entries, decisions, strict=True):
            mode = "offer" if decision.allowed else "skip"
            modes.append((mode, decision.rule))
            self._scripts.queue(
                pipe,
                "waitlist_offer",
                [
                    keys.slot(entry.slot),
                    keys.waitlist_queue(entry.slot),
                    keys.waitlist_entry(entry.id),
                    keys.WAITLIST_OFFERS,
                    keys.patient_version(entry.pid),
                    keys.WAITLIST_PENDING,
                    keys.AUDIT,
                    keys.account_offers(entry.acct),
                    keys.patient_waits(entry.pid),
                    keys.WAITLIST_UNSENT,
                ],
                [entry.id, version, until.timestamp(), stamp, entry.slot, mode, decision.rule or "", now.timestamp()],
            )
        outcomes = []
        for entry, (mode, rule), result in zip(entries, modes, self._scripts.execute(pipe), strict=True):
            outcome = text(result[0])
            if outcome == "ok" and mode == "skip":
                log.info("waitlist entry skipped", extra={"entry": entry.id, "rule": rule})
            outcomes.append(
                ("offered" if mode == "offer" else "skipped")
                if outcome == "ok"
                else "none"
                if outcome == "none"
                else "retry"
            )
        return outcomes

    def _enqueue_sends(self, entry_ids: list[str]) -> None:
        """Queue the push of each offer as a job (``bot.jobs.send_offer``), in one round trip."""
        if self.queue is None or not entry_ids:
            return
        jobs = [
            Queue.prepare_data(
                "bot.jobs.send_offer",
                (entry_id,),
                job_id=f"offer-{entry_id}",
                timeout=120,
                result_ttl=24 * 3600,
                description=f"waitlist offer {entry_id}",
            )
            for entry_id in entry_ids
        ]
        with self.redis.pipeline() as pipe:
            self.queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()

    # --- expiry and the end of waiting ---------------------------------------------------------------------
    def expire_due(self, *, offer: bool = True) -> int:
        """Pass on every held place whose hold lapsed on the deployment clock (``offer``: and offer them at once);
        the holds ended."""
        now = self.clock.now()
        ids = self.redis.zrangebyscore(keys.WAITLIST_OFFERS, "-inf", now.timestamp(), start=0, num=SWEEP_LIMIT)
        ended = 0
        slots: set[str] = set()
        for entry in self.many(ids):
            if self._pass(entry, "expire", "offer_expired", now) is not None:
                ended += 1
                slots.add(entry.slot)
        if offer:
            self.offer_pending(sorted(slots))
        return ended

    def _pass(self, entry: Entry, mode: str, reason: str, now: datetime) -> str | None:
        """End an offer not taken; where its place went (``waitlist``/``sale``), or None when it was not live."""
        policy = self.store.policy_for(entry.hospital)
        open_ = rules.waiting_open(policy, entry.slot_facts(policy), now)
        result = self._scripts.run(
            "waitlist_pass",
            self._end_keys(entry),
            [entry.id, now.timestamp(), mode, self.store.stamp(now), entry.slot, reason, "1" if open_ else "0"],
        )
        return text(result[1]) if text(result[0]) == "ok" else None

    def close_ended(self) -> int:
        """End waiting for every slot whose cancellation deadline passed; the entries that expired."""
        now = self.clock.now()
        ids = self.redis.zrangebyscore(keys.WAITLIST_ENDS, "-inf", now.timestamp(), start=0, num=SWEEP_LIMIT)
        return sum(self._close(text(slot_id), now) for slot_id in ids)

    def _close(self, slot_id: str, now: datetime) -> int:
        return int(
            self._scripts.run(
                "waitlist_close",
                [
                    keys.slot(slot_id),
                    keys.waitlist_queue(slot_id),
                    keys.WAITLIST_PENDING,
                    keys.WAITLIST_ENDS,
                    keys.AUDIT,
                ],
                [slot_id, self.store.stamp(now), keys.waitlist_entry(""), keys.patient("")],
            )
        )

    def tick(self) -> Tick:
        """The worker's periodic duty: end waiting past deadlines, pass on lapsed holds, offer freed places, queue
        again the pushes of offers not known to be sent."""
        closed = self.close_ended()
        expired = self.expire_due(offer=False)  # offered below, with every other freed place
        offered = self.offer_pending()
        self.resend_unsent()
        return Tick(closed=closed, expired=expired, offered=offered)

    def resend_unsent(self) -> int:
        """Queue again the push of every held offer whose push was queued over :data:`RESEND_AFTER` ago and is not
        known to be sent (its job lost with a process, or failed); the pushes queued. A push is sent once anyway."""
        now = self.clock.now().timestamp()
        due = [
            text(i) for i in self.redis.zrangebyscore(keys.WAITLIST_UNSENT, "-inf", now - RESEND_AFTER.total_seconds())
        ]
        if not due:
            return 0
        held = [e.id for e in self.many(due) if e.status == "offered"]
        pipe = self.redis.pipeline(transaction=False)
        ended = [entry_id for entry_id in due if entry_id not in held]  # claimed, lapsed or left: nothing to push
        if ended:
            pipe.zrem(keys.WAITLIST_UNSENT, *ended)
        if held:
            pipe.zadd(keys.WAITLIST_UNSENT, dict.fromkeys(held, now))
        pipe.execute()
        self._enqueue_sends(held)
        return len(held)

    def sent(self, entry_id: str) -> None:
        """The offer of ``entry_id`` was pushed (or needs no push any more): not queued again."""
        self.redis.zrem(keys.WAITLIST_UNSENT, entry_id)

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

    # --- the offer's push ----------------------------------------------------------------------------------
    def address(self, entry_id: str) -> tuple[str, str] | None:
        """Where an entry's offer goes: (channel, openid or phone)."""
        channel, to_enc = self.redis.hmget(keys.waitlist_entry(entry_id), ["channel", "to_enc"])
        if not channel or not to_enc:
            return None
        return text(channel), self.box.decrypt(text(to_enc), context=_TO_CONTEXT)
