"""Offering the places freed for a waitlist, passing on lapsed holds, ending waiting at the deadline, and pushing the
offers again when their push was lost: the periodic side of :class:`bot.waitlist.WaitlistService`.

A place freed for waiters (``wl_free`` of a slot) is offered to the first waiter the booking rules still allow
(``waitlist_offer.lua``: held as ``wl_held``), or the waiter is skipped with no place lost — and told so, once
(``bot.jobs.send_skip_notice``, tracked for a push like an offer). Offering reads the first
waiters of a slot, as many as there are places, decides them with one pipelined read and runs their offer scripts in
one round trip — each still its own atomic script, re-checking the place and the waiter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rq import Queue

import rules
from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.records import Slot, text
from bot.storage import keys
from bot.storage.scripts import Scripts
from bot.waitlist_entries import Entry, WaitlistReads

log = logging.getLogger(__name__)

RESEND_AFTER = timedelta(minutes=2)
"""A push (an offer, a skip notice) not known to be sent this long after it was queued is queued again."""
SKIP_NOTICE_TRIES_FOR = timedelta(days=1)
"""A skip notice still not sent this long after the skip is given up (an offer ends with its hold; a notice would
otherwise be tried every :data:`RESEND_AFTER` for as long as its entry lives)."""
OFFER_BATCH = 64
"""At most this many waiters of a slot are decided and offered in one round trip."""
PUSHED = ("offered", "skipped")
"""The outcomes of offering that push something to the waiter: the offer, or the notice that they were skipped."""
SWEEP_LIMIT = 1_000
"""At most this many lapsed offers or ended waitlists are handled per periodic call (the next call goes on)."""


@dataclass(frozen=True)
class Tick:
    """What one periodic call did."""

    closed: int
    expired: int
    offered: int


class WaitlistOffers(WaitlistReads):
    """Offers, expiries, the end of waiting and the offers' pushes (the service that holds these sets them)."""

    booking: BookingService
    store: AppointmentStore
    queue: Queue | None
    _scripts: Scripts

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
        Each offer's push is queued as a job (``bot.jobs.send_offer``), and each skipped waiter's notice
        (``bot.jobs.send_skip_notice``)."""
        ids = list(slot_ids) if slot_ids is not None else [text(s) for s in self.redis.smembers(keys.WAITLIST_PENDING)]
        done = [pair for slot_id in ids for pair in self._offer_slot(slot_id)]
        offered = [entry_id for entry_id, outcome in done if outcome == "offered"]
        self._enqueue_sends(offered, [entry_id for entry_id, outcome in done if outcome == "skipped"])
        return len(offered)

    def _offer_slot(self, slot_id: str) -> list[tuple[str, str]]:
        """Offer the places freed in one slot: (entry id, ``offered`` or ``skipped``) for each waiter decided."""
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
        done: list[tuple[str, str]] = []
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
            done += [(e.id, outcome) for e, outcome in zip(entries, outcomes, strict=True) if outcome in PUSHED]
            if "none" in outcomes:
                break
            free = int(self.redis.hget(keys.slot(slot_id), "wl_free") or 0)
        return done

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

    def _enqueue_sends(self, offered: Sequence[str], skipped: Sequence[str] = ()) -> None:
        """Queue the push of each offer (``bot.jobs.send_offer``) and of each skipped waiter's notice
        (``bot.jobs.send_skip_notice``) as jobs, in one round trip."""
        if self.queue is None or not (offered or skipped):
            return
        jobs = [
            Queue.prepare_data(
                function,
                (entry_id,),
                job_id=f"{name}-{entry_id}",
                timeout=120,
                result_ttl=24 * 3600,
                description=f"waitlist {name} {entry_id}",
            )
            for function, name, entry_ids in (
                ("bot.jobs.send_offer", "offer", offered),
                ("bot.jobs.send_skip_notice", "skipped", skipped),
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
        """Queue again the push of every held offer, and of every skipped waiter's notice, queued over
        :data:`RESEND_AFTER` ago and not known to be sent (its job lost with a process, or failed); the pushes
        queued. A push is sent once anyway."""
        now = self.clock.now().timestamp()
        due = [
            text(i) for i in self.redis.zrangebyscore(keys.WAITLIST_UNSENT, "-inf", now - RESEND_AFTER.total_seconds())
        ]
        if not due:
            return 0
        entries = self.many(due)
        held = [e.id for e in entries if e.status == "offered"]
        too_old = (self.clock.now() - SKIP_NOTICE_TRIES_FOR).isoformat()
        notices = [e for e in entries if e.skipped]
        skipped = [e.id for e in notices if not _before(e.ended_at, too_old)]
        if given_up := len(notices) - len(skipped):
            log.warning("waitlist skip notices given up, a day after the skip", extra={"entries": given_up})
        pipe = self.redis.pipeline(transaction=False)
        ended = [i for i in due if i not in held and i not in skipped]  # claimed, lapsed or left: nothing to push
        if ended:
            pipe.zrem(keys.WAITLIST_UNSENT, *ended)
        if held or skipped:
            pipe.zadd(keys.WAITLIST_UNSENT, dict.fromkeys([*held, *skipped], now))
        pipe.execute()
        self._enqueue_sends(held, skipped)
        return len(held) + len(skipped)

    def sent(self, entry_id: str) -> None:
        """The push of ``entry_id`` (its offer, or its skip notice) was sent (or needs none any more): not queued
        again."""
        self.redis.zrem(keys.WAITLIST_UNSENT, entry_id)


def _before(moment: str, other: str) -> bool:
    """Whether the ISO moment ``moment`` (``""``: unknown, never before) is before the ISO moment ``other``."""
    return bool(moment) and datetime.fromisoformat(moment) < datetime.fromisoformat(other)
