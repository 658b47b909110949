"""Waitlist entries (候补) as stored, and the reads of them: an account's, a patient's, a held offer, the staff view.

:class:`WaitlistReads` is the read side of :class:`bot.waitlist.WaitlistService` (which sets the attributes it
declares); :class:`Entry` is one ``keys.waitlist_entry`` hash — no personal data in clear (the patient is a pid, the
name masked, the address encrypted).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import redis

import rules
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.records import decode_hash, local_moment, text, texts_or_empty
from bot.storage import keys

_TEXTS = (
    "pid",
    "acct",
    "channel",
    "status",
    "serial",
    "reason",
    "patient_name_masked",
    "hospital",
    "department",
    "doctor",
    "doctor_name",
    "date",
    "start",
    "end",
    "ended_at",
)
"""The fields of an entry's hash read as they are, ``""`` when missing."""
LIVE = ("waiting", "offered")
STATUSES = ("waiting", "offered", "booked", "expired", "left")
TO_CONTEXT = "waitlist.to"
"""The encryption context of an entry's address (the openid or phone the offer goes to)."""


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
    ended_at: str
    """When it stopped waiting (ISO, deployment clock), ``""`` while live."""
    skipped: bool = False
    """Passed over when a place was offered: the booking rules no longer allowed this waiter (``reason``)."""

    @classmethod
    def from_hash(cls, raw: Any, tz: Any) -> Entry:
        """Build from the stored hash (``tz``: where a hold's end is shown)."""
        f = decode_hash(raw)
        hold = f.get("hold_until", "")
        return cls(
            id=f["id"],
            slot=f["slot"],
            seq=int(f.get("seq", "0")),
            hold_until=datetime.fromtimestamp(float(hold), tz) if hold else None,
            **texts_or_empty(f, *_TEXTS),
            skipped=f.get("skipped") == "1",
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


class WaitlistReads:
    """Reads of the waitlist's entries (the service that holds these attributes sets them)."""

    redis: redis.Redis
    clock: Clock
    box: SecretBox
    tz: tzinfo

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

    # --- the offer's push ----------------------------------------------------------------------------------
    def address(self, entry_id: str) -> tuple[str, str] | None:
        """Where an entry's offer goes: (channel, openid or phone)."""
        channel, to_enc = self.redis.hmget(keys.waitlist_entry(entry_id), ["channel", "to_enc"])
        if not channel or not to_enc:
            return None
        return text(channel), self.box.decrypt(text(to_enc), context=TO_CONTEXT)

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
