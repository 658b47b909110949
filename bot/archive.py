"""Retention: what has aged leaves Redis for append-only daily files, and is read back for staff and auditors.

Redis keeps what the bot works on: patients and their standing, the booking window, the recent history the booking
limits read (``bot.booking.HISTORY``). :meth:`Archive.run` moves the rest, oldest first:

- settled appointments (attended, no-show, cancelled — a ``booked`` one waits for the no-show sweep) whose visit is
  more than ``retention.appointments_days`` ago, to ``appointments/<visit date>.jsonl``;
- audit trail entries older than ``retention.audit_days``, to ``audit/<date of the entry>.jsonl``;
- slots of days past the appointments' retention with none of their appointments left (not archived: schedule data,
  and every archived appointment carries its slot's fields).

A patient's standing lives in its own keys (violations, waivers), which stay while they can count (a violation goes
with the archiving of one of the patient's appointments once it is older than a year plus the longest suspension):
archiving changes no standing and no limit.

Each line is one JSON object ``{"id", "kind", "record", ...}``; an appointment's line carries the patient's name, ID
and phone as Redis holds them (AES-GCM tokens, ``bot.crypto``), never in clear. Files are 0600 in 0700 directories.

Every step can be killed and re-run. An entry is first noted in ``keys.ARCHIVE_PENDING`` (with its file), then its
line is appended and fsynced, then a Lua script removes it from Redis only if it is still exactly what was written,
clearing the note. A re-run first settles the noted entries: in the file, they are removed from Redis (not written
again); not in the file, they are simply archived again. A torn last line (killed mid-write) is cut before the next
append. So no entry is lost and none is written twice; should an entry change between its write and its removal
(a staff waiver at that very moment), it stays in Redis and is archived again later, and the reader keeps an
entry's last line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

import rules
from bot.archive_files import ArchiveFiles
from bot.booking import HISTORY
from bot.clock import Clock
from bot.config import Config
from bot.errors import GuahaoError
from bot.patients import Field
from bot.records import decode_hash, text
from bot.storage import keys
from bot.storage.migrate import migrate_layout
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

BATCH = 200
APPOINTMENTS = "appointments"
AUDIT = "audit"
KINDS = (APPOINTMENTS, AUDIT)
PATIENT_FIELDS = {Field.NAME_ENC: "patient.name", Field.ID_ENC: "patient.id_number", Field.PHONE_ENC: "patient.phone"}
"""The patient's encrypted fields copied into an archived appointment, and the context each was sealed with
(``bot.patients``)."""
_SETTLED = frozenset(s.value for s in rules.AppointmentStatus if s != rules.AppointmentStatus.booked)


def archive_directory(config: Config) -> Path:
    """Where the archive files go: ``retention.archive_dir``, else ``<redis.data_dir>/archive``."""
    return Path(config.retention.archive_dir or Path(config.redis.data_dir) / "archive")


@dataclass(frozen=True)
class ArchiveRun:
    """What one run moved: appointments and audit entries archived, slots dropped, entries of a killed run
    settled."""

    appointments: int = 0
    audit: int = 0
    slots: int = 0
    recovered: int = 0


@dataclass(frozen=True)
class _Entry:
    id: str
    file: str
    line: dict[str, Any]


class Archive:
    """Moves aged data from Redis to the archive files (:meth:`run`: the worker's periodic duty and
    ``guahao archive``)."""

    def __init__(self, redis_client: redis.Redis, config: Config, clock: Clock, directory: Path | None = None) -> None:
        self.redis = redis_client
        self.config = config
        self.clock = clock
        self.files = ArchiveFiles(directory or archive_directory(config))
        self._scripts = Scripts(redis_client, "archive_appointment", "archive_audit", "archive_slot")

    def run(self, limit: int = 100_000) -> ArchiveRun:
        """Archive what has aged (up to ``limit`` appointments and ``limit`` audit entries); idempotent."""
        migrate_layout(self.redis)  # an older layout first: the worker's first tick after an upgrade
        if not self._due(self.clock.now()):
            return ArchiveRun()  # the usual tick: three reads, no file touched
        try:
            with self.files.locked():
                recovered = self._recover()
                now = self.clock.now()
                appointments = self._appointments(now, limit)
                slots = self._past_slots(now)
                audit_entries = self._audit(now, limit)
        except OSError as failed:  # what was written is noted: the next run settles it
            raise GuahaoError(f"archive: cannot write to {self.files.directory}: {failed.strerror or failed}") from None
        done = ArchiveRun(appointments, audit_entries, slots, recovered)
        if appointments or audit_entries or slots or recovered:
            log.info("archive run", extra=done.__dict__)
        return done

    def _due(self, now: datetime) -> bool:
        """Whether anything may be moved or settled now (cheap: a few reads)."""
        retention = self.config.retention
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(keys.ARCHIVE_PENDING)
        pipe.zrangebyscore(
            keys.ALL_APPOINTMENTS, "-inf", (now - timedelta(days=retention.appointments_days)).timestamp(), 0, 1
        )
        pipe.xrange(keys.AUDIT, count=1)
        pending, appointments, first_audit = pipe.execute()
        if pending or appointments:
            return True
        if first_audit and _moment(
            decode_hash(first_audit[0][1] or {}).get("at"), text(first_audit[0][0]), self.config.policy.tz
        ) < now - timedelta(days=retention.audit_days):
            return True
        cutoff = (now - timedelta(days=retention.appointments_days)).date().isoformat()
        return any(
            text(d) < cutoff for h in self.config.hospitals for d in self.redis.smembers(keys.schedule_dates(h.id))
        )

    # --- the protocol: note, write, remove -------------------------------------------------------------
    def _commit(self, entries: list[_Entry]) -> int:
        """Note the entries as pending, append them to their files (fsynced), then remove them from Redis."""
        if not entries:
            return 0
        self.redis.hset(keys.ARCHIVE_PENDING, mapping={e.id: e.file for e in entries})
        by_file: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_file.setdefault(entry.file, []).append(entry.line)
        for relative, lines in by_file.items():
            self.files.append(relative, lines)
        return self._remove([e.line for e in entries])

    def _remove(self, lines: list[dict[str, Any]]) -> int:
        removed = 0
        audit_ids = [line["id"].removeprefix("audit:") for line in lines if line["kind"] == AUDIT]
        if audit_ids:
            removed += int(self._scripts.run("archive_audit", keys=[keys.AUDIT, keys.ARCHIVE_PENDING], args=audit_ids))
        pipe = self.redis.pipeline(transaction=False)
        appointment_lines = [line for line in lines if line["kind"] == APPOINTMENTS]
        for line in appointment_lines:
            record = line["record"]
            serial = record["serial"]
            self._scripts.queue(
                pipe,
                "archive_appointment",
                keys=[
                    keys.appointment(serial),
                    keys.patient_appointments(record.get("pid", "")),
                    keys.slot_appointments(record.get("slot", "")),
                    keys.date_appointments(record.get("date", "")),
                    keys.ALL_APPOINTMENTS,
                    keys.NO_SHOW_DUE,
                    keys.appointment_notify(serial),
                    keys.ARCHIVE_PENDING,
                    keys.patient_violations(record.get("pid", "")),
                    keys.patient_waived(record.get("pid", "")),
                ],
                args=[serial, json.dumps(record, ensure_ascii=False), line["id"], self._violations_horizon()],
            )
        if appointment_lines:
            removed += sum(1 for reply in self._scripts.execute(pipe) if int(reply) != 0)
        return removed

    def _violations_horizon(self) -> int:
        """Violations before this moment (epoch seconds) can count in no standing any more: a no-show counts in its
        calendar year (or a month, ``rolling_month``) and a suspension it helps trigger lasts the longest tier."""
        longest = max((months for _, months in self.config.policy.no_show_tiers), default=0)
        return int((self.clock.now() - timedelta(days=366 + 31 * (longest + 1))).timestamp())

    def _recover(self) -> int:
        """Settle the entries a killed run left noted: removed from Redis when their line is in the file, else
        forgotten (the run below archives them again)."""
        pending = decode_hash(self.redis.hgetall(keys.ARCHIVE_PENDING))
        if not pending:
            return 0
        by_file: dict[str, set[str]] = {}
        for entry_id, relative in pending.items():
            by_file.setdefault(relative, set()).add(entry_id)
        written: list[dict[str, Any]] = []
        for relative, ids in by_file.items():
            last = {line["id"]: line for line in self.files.read(relative) if line["id"] in ids}
            written += last.values()
        missing = set(pending) - {line["id"] for line in written}
        if missing:
            self.redis.hdel(keys.ARCHIVE_PENDING, *missing)
        self._remove(written)
        log.info("archive: settled a previous run", extra={"written": len(written), "not_written": len(missing)})
        return len(pending)

    # --- appointments ----------------------------------------------------------------------------------
    def _appointments(self, now: datetime, limit: int) -> int:
        cutoff = now - timedelta(days=self.config.retention.appointments_days)
        booked_before = now - HISTORY
        archived = skipped = 0
        while archived < limit:
            serials = self.redis.zrangebyscore(keys.ALL_APPOINTMENTS, "-inf", cutoff.timestamp(), skipped, BATCH)
            if not serials:
                break
            entries, kept = self._appointment_entries([text(s) for s in serials], booked_before)
            removed = self._commit(entries)
            archived += removed
            skipped += kept + len(entries) - removed  # not settled yet, or changed meanwhile: the next run's
        return archived

    def _appointment_entries(self, serials: list[str], booked_before: datetime) -> tuple[list[_Entry], int]:
        """The entries of these serials ready to leave Redis, and how many stay (not settled yet)."""
        pipe = self.redis.pipeline(transaction=False)
        for serial in serials:
            pipe.hgetall(keys.appointment(serial))
        records = [decode_hash(raw) for raw in pipe.execute()]
        gone = [serial for serial, record in zip(serials, records, strict=True) if not record]
        if gone:  # an index entry whose appointment is already gone (archived, then re-indexed by nothing)
            self.redis.zrem(keys.ALL_APPOINTMENTS, *gone)
        ready = [r for r in records if r and r.get("status") in _SETTLED and _before(r.get("booked_at"), booked_before)]
        kept = sum(1 for r in records if r) - len(ready)
        pipe = self.redis.pipeline(transaction=False)
        for record in ready:
            pipe.hmget(keys.patient(record.get("pid", "")), list(PATIENT_FIELDS))
        entries = []
        at = self.clock.now().isoformat(timespec="seconds")
        for record, sealed in zip(ready, pipe.execute(), strict=True):
            patient = {name: text(value) for name, value in zip(PATIENT_FIELDS, sealed, strict=True) if value}
            entry_id = f"appt:{record['serial']}"
            line = {"id": entry_id, "kind": APPOINTMENTS, "archived_at": at, "record": record, "patient": patient}
            entries.append(_Entry(entry_id, f"{APPOINTMENTS}/{record.get('date', 'undated')}.jsonl", line))
        return entries, kept

    def _past_slots(self, now: datetime) -> int:
        dropped = 0
        for hospital in self.config.hospitals:
            last_kept = now.astimezone(hospital.policy.tz) - timedelta(days=self.config.retention.appointments_days)
            cutoff = last_kept.date().isoformat()
            past = sorted(d for d in map(text, self.redis.smembers(keys.schedule_dates(hospital.id))) if d < cutoff)
            for day in past:
                dropped += self._drop_day(hospital.id, day)
        return dropped

    def _drop_day(self, hospital: str, day: str) -> int:
        day_key = keys.slots_of_day(hospital, day)
        slot_ids = [text(s) for s in self.redis.zrange(day_key, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for slot_id in slot_ids:
            pipe.hget(keys.slot(slot_id), "department")
        dropped = 0
        for slot_id, department in zip(slot_ids, pipe.execute(), strict=True):
            dropped += int(
                self._scripts.run(
                    "archive_slot",
                    keys=[
                        keys.slot(slot_id),
                        keys.slot_appointments(slot_id),
                        day_key,
                        keys.slots_of_department_day(hospital, text(department or ""), day),
                        keys.SCHEDULE_VERSION,
                        keys.schedule_dates(hospital),
                    ],
                    args=[slot_id, secrets.token_hex(8), day],
                )
            )
        if not slot_ids:  # a day whose index is already gone (a run cut short before): only its date is left
            self.redis.srem(keys.schedule_dates(hospital), day)
        return dropped

    # --- audit -----------------------------------------------------------------------------------------
    def _audit(self, now: datetime, limit: int) -> int:
        cutoff = now - timedelta(days=self.config.retention.audit_days)
        tz = self.config.policy.tz
        archived = 0
        while archived < limit:
            batch = self.redis.xrange(keys.AUDIT, count=BATCH) or []
            entries = []
            for stream_id, raw in batch:
                fields = decode_hash(raw or {})
                moment = _moment(fields.get("at"), text(stream_id), tz)
                if moment >= cutoff:
                    break
                entry_id = f"audit:{text(stream_id)}"
                line = {"id": entry_id, "kind": AUDIT, "record": fields}
                entries.append(_Entry(entry_id, f"{AUDIT}/{moment.astimezone(tz).date().isoformat()}.jsonl", line))
            if not entries:
                break
            archived += self._commit(entries)
            if len(entries) < len(batch):
                break
        return archived


def _before(stamp: str | None, moment: datetime) -> bool:
    with contextlib.suppress(TypeError, ValueError):
        return datetime.fromisoformat(stamp or "") < moment
    return True  # no readable booking time: nothing can count it against a limit


def _moment(stamp: str | None, stream_id: str, tz: Any) -> datetime:
    """When an audit entry was written: its ``at`` (the deployment clock), else the stream id's milliseconds."""
    with contextlib.suppress(TypeError, ValueError):
        found = datetime.fromisoformat(stamp or "")
        return found if found.tzinfo else found.replace(tzinfo=tz)
    return datetime.fromtimestamp(int(stream_id.split("-")[0]) / 1000, tz)


def days_between(start: date, end: date) -> list[str]:
    """Every ISO date from ``start`` to ``end`` included."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


ARCHIVE_EVERY_S = 600
"""How often (wall clock) the worker's tick runs the archive; ``guahao archive`` runs it at once."""


def archive_duty(redis_client: redis.Redis, config: Config, clock: Clock) -> ArchiveRun | None:
    """The worker's periodic duty: :meth:`Archive.run` at most every :data:`ARCHIVE_EVERY_S` seconds across
    every worker sharing this Redis (a key that expires); None when it was not due."""
    if not redis_client.set(keys.ARCHIVE_DUE, "1", nx=True, ex=ARCHIVE_EVERY_S):
        return None
    return Archive(redis_client, config, clock).run()
