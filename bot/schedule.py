"""Hospitals, departments and slots (号源): the schedule CSV import (SPEC §3, §6) and the reads booking needs.

An import is all or nothing: every row is checked first (:class:`ScheduleRow`, a pydantic model) and every problem
reported with its line; then one Lua script (``bot/storage/lua/import_slots.lua``) refuses the whole file if it would
shrink a slot below the places already booked, else upserts every slot and its indexes. Re-importing is idempotent:
capacity, fee, times and names follow the file; ``taken``, ``next_queue`` and ``status`` are never reset; slots
missing from the file stay.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, cast

import redis
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo

import rules
from bot.clock import Clock, SystemClock
from bot.config import Config, Department, Hospital, id_problem
from bot.errors import GuahaoError
from bot.records import SCHEDULED_FIELDS, RawHash, Slot, slot_id
from bot.schedule_cache import LIVE_FIELDS, ScheduleCache, pinned_version, with_live
from bot.storage import keys
from bot.storage.scripts import Scripts
from bot.validation import config_of, invalid, reasons

COLUMNS = ("hospital", "department", "doctor", "level", "date", "start", "end", "capacity", "fee")
"""The required columns of the schedule CSV, in the documented order."""
OPTIONAL_COLUMNS = ("doctor_name", "name_en")
"""Columns a file may add (SPEC §7): ``doctor_name`` (defaults to the doctor id) and the doctor's ``name_en`` (for
English conversations; "" = none). Columns are matched by their header name."""
SLOT_STATUSES = ("open", "suspended")
MAX_CAPACITY = 99_999
_SHOWN_ERRORS = 10

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_COUNT = re.compile(r"\d{1,9}")
_YUAN = re.compile(r"\d{1,8}(?:\.\d{1,2})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RowError:
    """One problem of an imported file: ``line`` counts from 1, the header being line 1."""

    line: int
    reason: str


class ScheduleImportError(GuahaoError):
    """A schedule file was refused as a whole; ``errors`` lists every problem found, in line order."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)
        lines = len({e.line for e in self.errors})
        shown = "; ".join(f"line {e.line}: {e.reason}" for e in self.errors[:_SHOWN_ERRORS])
        more = len(self.errors) - _SHOWN_ERRORS
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(f"schedule import refused: {lines} bad row{'s' if lines != 1 else ''} ({shown})")

    def to_json(self) -> dict[str, list[dict[str, int | str]]]:
        """The body of the staff API's 400 answer: ``{"errors": [{"line", "reason"}]}``."""
        return {"errors": [{"line": e.line, "reason": e.reason} for e in self.errors]}


def _hospital(text: str, info: ValidationInfo) -> str:
    if config_of(info).hospital(text) is None:
        raise invalid(f'unknown hospital "{_short(text)}"')
    return text


def _department(text: str, info: ValidationInfo) -> str:
    hospital = config_of(info).hospital(info.data.get("hospital", ""))
    if hospital is not None and hospital.department(text) is None:
        raise invalid(f'unknown department "{_short(text)}" of hospital "{hospital.id}"')
    return text  # an unknown hospital is reported by itself


def _doctor(text: str) -> str:
    problem = id_problem(text)
    if problem is not None:
        raise invalid(f'bad doctor id "{_short(text)}": expected {problem}')
    return text


def _printable(column: str) -> Callable[[str, ValidationInfo], str]:
    def check(text: str, info: ValidationInfo) -> str:
        if len(text) > 64 or _CONTROL.search(text):
            raise invalid(f'bad {column} "{_short(text)}": expected at most 64 printable characters')
        return text or (info.data.get("doctor", "") if column == "doctor_name" else "")  # the name defaults to the id

    return check


def _level(text: str) -> rules.FeeClass:
    if text.lower() not in rules.FeeClass.__members__:
        raise invalid(f'bad level "{_short(text)}": expected general, expert or special')
    return rules.FeeClass(text.lower())


def _date(text: str) -> str:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise invalid(f'bad date "{_short(text)}": expected a real date YYYY-MM-DD')


def _time(name: str) -> Callable[[str, ValidationInfo], str]:
    """``HH:MM`` (``H:MM`` accepted and padded); the end after the start."""

    def check(text: str, info: ValidationInfo) -> str:
        match = _TIME.fullmatch(text)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise invalid(f'bad {name} time "{_short(text)}": expected HH:MM')
        clock = f"{int(match[1]):02d}:{match[2]}"
        start = info.data.get("start")
        if name == "end" and start is not None and clock <= start:
            raise invalid(f"end before start: end {clock} must be after start {start}")
        return clock

    return check


def _count(text: str) -> int:
    if text.startswith("-") and _COUNT.fullmatch(text[1:]) and int(text[1:]) > 0:
        raise invalid(f"negative capacity {text}")
    if not _COUNT.fullmatch(text) or int(text) > MAX_CAPACITY:
        raise invalid(f'bad capacity "{_short(text)}": expected a whole number from 0 to {MAX_CAPACITY}')
    return int(text)


def _cents(text: str) -> int:
    if text.startswith("-") and _YUAN.fullmatch(text[1:]) and Decimal(text[1:]) > 0:
        raise invalid(f"negative fee {text}")
    if not _YUAN.fullmatch(text):
        raise invalid(f'bad fee "{_short(text)}": expected yuan with at most 2 decimals, e.g. 50 or 12.5')
    return int(Decimal(text) * 100)


class ScheduleRow(BaseModel):
    """One valid row of a schedule file: the cells (by column name) checked, with the slot's stored names
    (:data:`bot.records.SCHEDULED_FIELDS`); each bad cell is one error, in column order."""

    model_config = ConfigDict(frozen=True)

    line: int
    hospital: Annotated[str, PlainValidator(_hospital)]
    department: Annotated[str, PlainValidator(_department)]
    doctor: Annotated[str, PlainValidator(_doctor)]
    doctor_name: Annotated[str, PlainValidator(_printable("doctor_name"))] = Field("", validate_default=True)
    doctor_name_en: Annotated[str, PlainValidator(_printable("name_en"))] = Field("", validation_alias="name_en")
    level: Annotated[rules.FeeClass, PlainValidator(_level)]
    date: Annotated[str, PlainValidator(_date)]
    start: Annotated[str, PlainValidator(_time("start"))]
    end: Annotated[str, PlainValidator(_time("end"))]
    capacity: Annotated[int, PlainValidator(_count)]
    fee_cents: Annotated[int, PlainValidator(_cents)] = Field(validation_alias="fee")

    @property
    def slot_id(self) -> str:
        """The id of the slot this row describes."""
        return slot_id(self.hospital, self.department, self.doctor, self.date, self.start)

    @property
    def start_minutes(self) -> int:
        """The start in minutes after midnight (the score of the day indexes)."""
        return _minutes(self.start)

    @property
    def stored(self) -> list[str]:
        """The values of :data:`SCHEDULED_FIELDS` as the slot hash holds them, in that order."""
        values = {**self.__dict__, "level": self.level.value}
        return [str(values[name]) for name in SCHEDULED_FIELDS]


@dataclass(frozen=True)
class ImportResult:
    """What an accepted import did."""

    created: int
    updated: int

    @property
    def accepted(self) -> int:
        """Rows of the file accepted (created or updated): the ``N`` of ``{"slots": N}``."""
        return self.created + self.updated


def parse_schedule_csv(text: str, config: Config) -> list[ScheduleRow]:
    """Check a whole schedule file against ``config``; raise :class:`ScheduleImportError` listing every bad row."""
    errors: list[RowError] = []
    records = _records(text.removeprefix("\ufeff"), errors)
    header = next(records, None)
    if header is None:
        if not errors:
            errors.append(RowError(1, "empty file: expected the header " + ",".join(COLUMNS)))
        raise ScheduleImportError(errors)
    columns = _columns(*header, errors)
    if errors:
        raise ScheduleImportError(errors)
    rows: list[ScheduleRow] = []
    seen: dict[tuple[str, str, str, str, str], int] = {}
    for line, cells in records:
        if len(cells) != len(columns):
            errors.append(RowError(line, f"expected {len(columns)} cells, got {len(cells)}"))
            continue
        row = _row(line, dict(zip(columns, cells, strict=True)), config, errors)
        if row is None:
            continue
        identity = (row.hospital, row.department, row.doctor, row.date, row.start)
        first = seen.setdefault(identity, line)
        if first != line:
            errors.append(
                RowError(line, f"duplicate slot: same hospital, department, doctor, date and start as line {first}")
            )
            continue
        rows.append(row)
    if errors:
        raise ScheduleImportError(errors)
    return rows


def _records(text: str, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on, cells stripped; a CSV syntax error ends the file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(line, f"unreadable CSV: {exc}"))
            return
        stripped = [c.strip() for c in cells]
        if any(stripped):
            yield line, stripped
        line = reader.line_num + 1


def _columns(line: int, cells: list[str], errors: list[RowError]) -> list[str]:
    names = [c.lower() for c in cells]
    for index, name in enumerate(names):
        if name not in COLUMNS and name not in OPTIONAL_COLUMNS:
            errors.append(RowError(line, f'unknown column "{_short(cells[index])}"; expected ' + ",".join(COLUMNS)))
        elif name in names[:index]:
            errors.append(RowError(line, f'duplicate column "{name}"'))
    errors.extend(RowError(line, f'missing column "{name}"') for name in COLUMNS if name not in names)
    return names


def _row(line: int, cells: dict[str, str], config: Config, errors: list[RowError]) -> ScheduleRow | None:
    """The row if every cell is valid; else ``None`` and each problem appended to ``errors``."""
    try:
        return ScheduleRow.model_validate({**cells, "line": line}, context={"config": config})
    except ValidationError as exc:
        errors.extend(RowError(line, reason) for reason in reasons(exc))
        return None


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:39] + "…"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Schedule:
    """The hospitals of the configuration and the slots stored in Redis."""

    def __init__(self, redis_client: redis.Redis, config: Config, clock: Clock | None = None) -> None:
        self._redis = redis_client
        self._config = config
        self._clock = clock or SystemClock()
        self._scripts = Scripts(redis_client, "import_slots", "schedule_set_status", "slots_live")
        self._cache = ScheduleCache()
        self.on_imported: Callable[[list[str]], object] | None = None
        """Called with the slot ids of every accepted import (the waitlist offers places staff added)."""

    # --- hospitals and departments (from config) ---------------------------------------------------------
    def hospitals(self) -> tuple[Hospital, ...]:
        """The configured hospitals, in config order."""
        return self._config.hospitals

    def hospital(self, hospital_id: str) -> Hospital | None:
        """The configured hospital with this id."""
        return self._config.hospital(hospital_id)

    def department(self, hospital_id: str, department_id: str) -> Department | None:
        """The configured department of that hospital."""
        hospital = self._config.hospital(hospital_id)
        return hospital.department(department_id) if hospital else None

    # --- import ------------------------------------------------------------------------------------------
    def import_csv(self, text: str) -> int:
        """Import a schedule file (all or nothing); the number of rows accepted. Raises ScheduleImportError."""
        return self.import_rows(parse_schedule_csv(text, self._config)).accepted

    def import_rows(self, rows: Sequence[ScheduleRow], *, actor: str = "system", at: str = "") -> ImportResult:
        """Upsert valid rows in one atomic script; refuse them all if one would shrink a slot below its bookings.

        The same script appends ``schedule_imported`` to the audit trail, naming ``actor`` (ids and counts only)."""
        if not rows:
            return ImportResult(created=0, updated=0)
        index_keys: dict[str, int] = {}

        def index_of(key: str) -> str:
            return str(index_keys.setdefault(key, len(rows) + len(index_keys) + 1))

        payload = [
            [
                index_of(keys.slots_of_day(r.hospital, r.date)),
                index_of(keys.slots_of_department_day(r.hospital, r.department, r.date)),
                index_of(keys.schedule_dates(r.hospital)),
                str(r.start_minutes),
                r.slot_id,
                *r.stored,  # in the order of SCHEDULED_FIELDS, which import_slots.lua's FIELDS repeats
            ]
            for r in rows
        ]
        slot_keys = [keys.slot(r.slot_id) for r in rows]
        result = self._scripts.run(
            "import_slots",
            keys=[*slot_keys, *index_keys, keys.AUDIT, keys.SCHEDULE_VERSION],
            args=[
                json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                actor,
                at or self._clock.now().astimezone(self._config.policy.tz).isoformat(timespec="seconds"),
                ",".join(sorted({r.hospital for r in rows})),
                secrets.token_hex(8),
            ],
        )
        if int(result[0]) == 1:
            if self.on_imported is not None:
                self.on_imported([r.slot_id for r in rows])
            return ImportResult(created=int(result[1]), updated=int(result[2]))
        refused = [(rows[int(i)], int(taken)) for i, taken in zip(result[1::2], result[2::2], strict=True)]
        raise ScheduleImportError(
            [
                RowError(
                    row.line,
                    f"capacity {row.capacity} is below the {taken} places already booked in slot {row.slot_id}",
                )
                for row, taken in refused
            ]
        )

    # --- reads -------------------------------------------------------------------------------------------
    # With a schedule version pinned (bot.schedule_cache: the dialog engine's steps), the slots a department has on
    # a day and their fixed fields come from the process's cache, and only places and status from Redis.
    def slot(self, slot_id: str) -> Slot | None:
        """The stored slot, or ``None``."""
        version = pinned_version()
        kept = self._cache.slot(version, slot_id) if version is not None else None
        if kept is not None:
            return with_live(kept, cast(list[Any], self._redis.hmget(keys.slot(slot_id), LIVE_FIELDS)))
        raw = cast(RawHash, self._redis.hgetall(keys.slot(slot_id)))
        return self._kept(version, Slot.from_hash(slot_id, raw)) if raw else None

    def slots(self, hospital: str, department: str, date: str) -> list[Slot]:
        """The slots of a department on a date, by start then doctor."""
        return self.slots_on(hospital, department, [date])[date]

    def slots_on(self, hospital: str, department: str, dates: Sequence[str]) -> dict[str, list[Slot]]:
        """The slots of a department on each of ``dates`` (as :meth:`slots`), in two round trips whatever their
        number (one when the days are cached): a booking dialog shows a week's dates with their places in one step."""
        version = pinned_version()
        ids_of = self._day_ids(version, hospital, department, dates)
        every = [one for ids in ids_of.values() for one in ids]
        cached = {one: kept for one in every if version and (kept := self._cache.slot(version, one)) is not None}
        unknown = [one for one in every if one not in cached]
        pipe = self._redis.pipeline(transaction=False)
        for one in unknown:
            pipe.hgetall(keys.slot(one))
        if cached:
            self._scripts.queue(pipe, "slots_live", [keys.slot(one) for one in cached], list(LIVE_FIELDS))
        replies = self._scripts.execute(pipe) if every else []
        read = {
            one: self._kept(version, Slot.from_hash(one, raw))
            for one, raw in zip(unknown, replies, strict=False)
            if raw
        }
        live = replies[-1] if cached else []
        width = len(LIVE_FIELDS)
        for n, (one, kept) in enumerate(cached.items()):
            found = with_live(kept, live[n * width : (n + 1) * width])
            if found is not None:
                read[one] = found
        return {
            day: sorted((read[one] for one in ids if one in read), key=lambda s: (s.start, s.doctor, s.id))
            for day, ids in ids_of.items()
        }

    def _kept(self, version: str | None, slot: Slot) -> Slot:
        """``slot`` just read whole, kept for ``version`` (if any)."""
        if version is not None:
            self._cache.keep_slot(version, slot)
        return slot

    def _day_ids(
        self, version: str | None, hospital: str, department: str, dates: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """The slot ids of the department on each date: from the cache at ``version``, the rest in one round trip."""
        known = {day: self._cache.day_ids(version, (hospital, department, day)) for day in dates} if version else {}
        missing = [day for day in dates if known.get(day) is None]
        if missing:
            pipe = self._redis.pipeline(transaction=False)
            for day in missing:
                pipe.zrange(keys.slots_of_department_day(hospital, department, day), 0, -1)
            for day, ids in zip(missing, pipe.execute(), strict=True):
                known[day] = tuple(_text(m) for m in ids)
                if version is not None:
                    self._cache.keep_day(version, (hospital, department, day), known[day] or ())
        return {day: known[day] or () for day in dates}

    def dates(self, hospital: str, department: str | None = None) -> list[str]:
        """Sorted dates on which the hospital (or that department of it) has slots."""
        version = pinned_version()
        cached = self._cache.dates(version, hospital) if version is not None else None
        if cached is None:
            cached = tuple(sorted(_text(d) for d in self._redis.smembers(keys.schedule_dates(hospital))))
            if version is not None:
                self._cache.keep_dates(version, hospital, cached)
        days = list(cached)
        if department is None or not days:
            return days
        ids_of = self._day_ids(version, hospital, department, days)
        return [day for day in days if ids_of[day]]

    def departments_on(self, hospital: str, date: str) -> list[str]:
        """Ids of the departments with slots on that date, in config order."""
        return self.departments_within(hospital, [date])

    def departments_within(self, hospital: str, dates: Sequence[str]) -> list[str]:
        """Ids of the departments with slots on any of ``dates``, in config order: one round trip (none cached)."""
        configured = self._config.hospital(hospital)
        if configured is None or not configured.departments or not dates:
            return []
        version = pinned_version()
        if version is None:
            pipe = self._redis.pipeline(transaction=False)
            for day in dates:
                for department in configured.departments:
                    pipe.exists(keys.slots_of_department_day(hospital, department.id, day))
            held = pipe.execute()
            width = len(configured.departments)
            return [d.id for n, d in enumerate(configured.departments) if any(held[n::width])]
        known = {
            (d.id, day): self._cache.day_ids(version, (hospital, d.id, day))
            for d in configured.departments
            for day in dates
        }
        missing = [pair for pair, ids in known.items() if ids is None]
        if missing:
            pipe = self._redis.pipeline(transaction=False)
            for department_id, day in missing:
                pipe.zrange(keys.slots_of_department_day(hospital, department_id, day), 0, -1)
            for (department_id, day), ids in zip(missing, pipe.execute(), strict=True):
                known[department_id, day] = tuple(_text(m) for m in ids)
                self._cache.keep_day(version, (hospital, department_id, day), known[department_id, day] or ())
        return [d.id for d in configured.departments if any(known[d.id, day] for day in dates)]

    # --- staff -------------------------------------------------------------------------------------------
    def set_slot_status(self, slot_id: str, status: str) -> bool:
        """Open or suspend an existing slot (a hospital suspending a clinic); ``False`` when there is no such slot."""
        if status not in SLOT_STATUSES:
            raise ValueError(f"slot status must be one of {', '.join(SLOT_STATUSES)}, got {status!r}")
        return bool(self._scripts.run("schedule_set_status", keys=[keys.slot(slot_id)], args=[status]))
