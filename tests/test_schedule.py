"""Schedule import (SPEC §3, §6) and the slot reads, against a real Redis."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis

import bot.storage
import rules
from bot.audit import read_audit
from bot.config import Config, build_config
from bot.records import SCHEDULED_FIELDS
from bot.schedule import RowError, Schedule, ScheduleImportError, parse_schedule_csv
from bot.storage import keys

HEADER = "hospital,department,doctor,level,date,start,end,capacity,fee"


@pytest.fixture
def config() -> Config:
    return build_config(
        {
            "hospitals": [
                {
                    "id": "h1",
                    "name": "First",
                    "departments": [
                        {"id": "internal", "name": "内科"},
                        {"id": "surgery", "name": "外科"},
                        {"id": "eye", "name": "眼科"},
                    ],
                },
                {"id": "h2", "name": "Second", "departments": [{"id": "internal", "name": "内科"}]},
            ]
        }
    )


@pytest.fixture
def schedule(redis_db: redis.Redis, config: Config) -> Schedule:
    return Schedule(redis_db, config)


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


GOOD = csv_of(
    "h1,internal,wang,general,2030-03-02,08:00,12:00,30,12.5",
    "h1,internal,li,expert,2030-03-02,08:00,11:30,10,50",
    "h1,internal,chen,expert,2030-03-02,07:30,09:00,5,80.00",
    "h1,surgery,zhao,special,2030-03-03,14:00,17:00,0,300",
    "h1,eye,sun,general,2030-03-01,08:00,12:00,20,0",
    "h2,internal,wang,general,2030-03-02,13:30,17:00,40,5",
)


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key of the database with its content (to prove an import wrote nothing), the audit trail aside."""
    out: dict[bytes, object] = {}
    for key in client.scan_iter():
        if key == keys.AUDIT.encode():
            continue
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            out[key] = client.smembers(key)
        else:
            out[key] = client.dump(key)
    return out


# --- a good file -------------------------------------------------------------------------------------------
def test_good_file_imports_every_row_with_all_fields(schedule: Schedule, redis_db: redis.Redis) -> None:
    assert schedule.import_csv(GOOD) == 6
    slot = schedule.slot("h1|internal|wang|2030-03-02|08:00")
    assert slot is not None
    assert slot.hospital == "h1" and slot.department == "internal" and slot.doctor == "wang"
    assert slot.doctor_name == "wang"  # no doctor_name column: the id
    assert slot.level is rules.FeeClass.general
    assert (slot.date, slot.start, slot.end) == ("2030-03-02", "08:00", "12:00")
    assert slot.capacity == 30 and slot.fee_cents == 1250
    assert slot.taken == 0 and slot.status == "open" and slot.places_left == 30
    assert redis_db.hget(keys.slot(slot.id), "next_queue") == b"0"
    closed = schedule.slot("h1|surgery|zhao|2030-03-03|14:00")
    assert closed is not None and closed.capacity == 0 and closed.fee_cents == 30000
    assert closed.level is rules.FeeClass.special
    assert schedule.slot("h1|internal|chen|2030-03-02|07:30").fee_cents == 8000  # type: ignore[union-attr]
    assert schedule.slot("h1|internal|nobody|2030-03-02|08:00") is None


def test_indexes_dates_departments_and_ordering(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    slots = schedule.slots("h1", "internal", "2030-03-02")
    assert [(s.start, s.doctor) for s in slots] == [("07:30", "chen"), ("08:00", "li"), ("08:00", "wang")]
    assert schedule.slots("h1", "internal", "2030-03-05") == []
    assert schedule.dates("h1") == ["2030-03-01", "2030-03-02", "2030-03-03"]
    assert schedule.dates("h1", "internal") == ["2030-03-02"]
    assert schedule.dates("h1", "surgery") == ["2030-03-03"]
    assert schedule.dates("h2") == ["2030-03-02"]
    assert schedule.dates("h9") == [] and schedule.dates("h9", "internal") == []
    assert schedule.departments_on("h1", "2030-03-02") == ["internal"]
    assert schedule.departments_on("h1", "2030-03-01") == ["eye"]
    assert schedule.departments_on("h2", "2030-03-02") == ["internal"]
    assert schedule.departments_on("h1", "2030-04-01") == [] and schedule.departments_on("h9", "2030-03-02") == []
    day = redis_db.zrange(keys.slots_of_day("h1", "2030-03-02"), 0, -1, withscores=True)
    assert day == [
        (b"h1|internal|chen|2030-03-02|07:30", 450.0),
        (b"h1|internal|li|2030-03-02|08:00", 480.0),
        (b"h1|internal|wang|2030-03-02|08:00", 480.0),
    ]
    assert (
        redis_db.zscore(
            keys.slots_of_department_day("h2", "internal", "2030-03-02"), "h2|internal|wang|2030-03-02|13:30"
        )
        == 810
    )


def test_hospitals_and_departments_come_from_config(schedule: Schedule, config: Config) -> None:
    assert [h.id for h in schedule.hospitals()] == ["h1", "h2"]
    assert schedule.hospital("h2") is config.hospitals[1] and schedule.hospital("zz") is None
    assert schedule.department("h1", "eye") is not None and schedule.department("h1", "name") is None
    assert schedule.department("zz", "eye") is None


def test_header_only_file_imports_nothing(schedule: Schedule, redis_db: redis.Redis) -> None:
    assert schedule.import_csv(HEADER + "\n") == 0
    assert redis_db.dbsize() == 0


# --- bad rows ------------------------------------------------------------------------------------------------
BAD_ROWS = [
    ("h9,internal,wang,general,2030-03-02,08:00,12:00,30,5", 'unknown hospital "h9"'),
    ("h1,xx,wang,general,2030-03-02,08:00,12:00,30,5", 'unknown department "xx" of hospital "h1"'),
    ("h2,surgery,wang,general,2030-03-02,08:00,12:00,30,5", 'unknown department "surgery" of hospital "h2"'),
    ("h1,internal,,general,2030-03-02,08:00,12:00,30,5", 'bad doctor id ""'),
    ('h1,internal,"dr ""wang""",general,2030-03-02,08:00,12:00,30,5', 'bad doctor id "dr "wang""'),
    ('h1,internal,"wang,li",general,2030-03-02,08:00,12:00,30,5', 'bad doctor id "wang,li"'),
    ("h1,internal,wang\x7f,general,2030-03-02,08:00,12:00,30,5", 'bad doctor id "wang\x7f"'),
    ("h1,internal," + "x" * 65 + ",general,2030-03-02,08:00,12:00,30,5", "bad doctor id"),
    ("h1,internal,a|b,general,2030-03-02,08:00,12:00,30,5", 'bad doctor id "a|b"'),
    ("h1,internal,wang,vip,2030-03-02,08:00,12:00,30,5", 'bad level "vip"'),
    ("h1,internal,wang,general,2030-02-30,08:00,12:00,30,5", 'bad date "2030-02-30"'),
    ("h1,internal,wang,general,2030/03/02,08:00,12:00,30,5", 'bad date "2030/03/02"'),
    ("h1,internal,wang,general,20300302,08:00,12:00,30,5", 'bad date "20300302"'),
    ("h1,internal,wang,general,,08:00,12:00,30,5", 'bad date ""'),
    ("h1,internal,wang,general,2030-03-02,25:00,12:00,30,5", 'bad start time "25:00"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:61,30,5", 'bad end time "12:61"'),
    ("h1,internal,wang,general,2030-03-02,8am,12:00,30,5", 'bad start time "8am"'),
    ("h1,internal,wang,general,2030-03-02,12:00,08:00,30,5", "end before start"),
    ("h1,internal,wang,general,2030-03-02,08:00,08:00,30,5", "end before start"),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,-1,5", "negative capacity -1"),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,2.5,5", 'bad capacity "2.5"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,lots,5", 'bad capacity "lots"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,100000,5", 'bad capacity "100000"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30,-5", "negative fee -5"),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30,1.234", 'bad fee "1.234"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30,¥5", 'bad fee "¥5"'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30,", 'bad fee ""'),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30", "expected 9 cells, got 8"),
    ("h1,internal,wang,general,2030-03-02,08:00,12:00,30,5,extra", "expected 9 cells, got 10"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_each_bad_row_is_reported_with_its_line(
    schedule: Schedule, redis_db: redis.Redis, row: str, reason: str
) -> None:
    text = csv_of("h1,internal,li,expert,2030-03-02,08:00,11:30,10,50", row)
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert [e.line for e in caught.value.errors] == [3]
    assert caught.value.errors[0].reason.startswith(reason), caught.value.errors[0].reason
    assert redis_db.dbsize() == 0


def test_duplicate_slot_names_the_first_line(schedule: Schedule) -> None:
    text = csv_of(
        "h1,internal,wang,general,2030-03-02,08:00,12:00,30,5",
        "h1,internal,li,general,2030-03-02,08:00,12:00,30,5",
        "h1 , internal , wang , expert , 2030-03-02 , 8:00 , 11:00 , 3 , 9",  # same slot, other details
    )
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert caught.value.errors == [
        RowError(4, "duplicate slot: same hospital, department, doctor, date and start as line 2")
    ]


def test_several_bad_rows_are_all_reported_and_nothing_is_imported(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    before = snapshot(redis_db)
    text = csv_of(
        "h1,internal,wang,general,2030-03-09,08:00,12:00,30,5",
        "h1,xx,wang,general,2030-03-09,08:00,12:00,30,5",
        "h1,internal,wang,general,2030-03-09,09:00,12:00,30,5",
        "",
        "h9,internal,wang,vip,2030-13-01,08:00,07:00,-2,1.001",
        "h1,internal,wang,general,2030-03-09,09:00,12:00,30,5",
    )
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    errors = caught.value.errors
    assert [e.line for e in errors] == [3, 6, 6, 6, 6, 6, 6, 7]
    assert [e.reason.split(" ")[0:2] for e in errors[1:7]] == [
        ["unknown", "hospital"],
        ["bad", "level"],
        ["bad", "date"],
        ["end", "before"],
        ["negative", "capacity"],
        ["bad", "fee"],
    ]
    assert errors[7].reason.endswith("as line 4")
    message = str(caught.value)
    assert message.startswith('schedule import refused: 3 bad rows (line 3: unknown department "xx" of hospital "h1"; ')
    assert "\n" not in message
    assert caught.value.to_json()["errors"][0] == {"line": 3, "reason": 'unknown department "xx" of hospital "h1"'}
    assert snapshot(redis_db) == before


def test_message_of_many_errors_stays_one_short_line(schedule: Schedule) -> None:
    rows = [f"h9,internal,wang,general,2030-03-02,{h:02d}:00,{h:02d}:30,1,1" for h in range(20)]
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(csv_of(*rows))
    assert len(caught.value.errors) == 20
    message = str(caught.value)
    assert message.startswith("schedule import refused: 20 bad rows (line 2: ")
    assert message.endswith("; and 10 more)") and "line 12:" not in message
    single = ScheduleImportError([RowError(5, "x")])
    assert str(single) == "schedule import refused: 1 bad row (line 5: x)"


# --- header and file shape -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "reasons"),
    [
        ("hospital,department,doctor,level,date,start,end,capacity", ['missing column "fee"']),
        (
            "hospital,department,doctor,level,date,start,end,capacity,fee,room",
            ['unknown column "room"; expected hospital,department,doctor,level,date,start,end,capacity,fee'],
        ),
        ("hospital,department,doctor,level,date,date,start,end,capacity,fee", ['duplicate column "date"']),
        (
            "hospital;department;doctor;level;date;start;end;capacity;fee",
            [
                'unknown column "hospital;department;doctor;level;date;s…"; expected '
                "hospital,department,doctor,level,date,start,end,capacity,fee",
                *(f'missing column "{c}"' for c in HEADER.split(",")),
            ],
        ),
    ],
)
def test_header_problems_are_reported_at_line_1(
    schedule: Schedule, redis_db: redis.Redis, header: str, reasons: list[str]
) -> None:
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(csv_of("h1,internal,wang,general,2030-03-02,08:00,12:00,30,5", header=header))
    assert caught.value.errors == [RowError(1, r) for r in reasons]
    assert redis_db.dbsize() == 0


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n", " , \r\n"])
def test_empty_file_is_refused(schedule: Schedule, text: str) -> None:
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert [e.line for e in caught.value.errors] == [1]
    assert caught.value.errors[0].reason.startswith("empty file: expected the header hospital,department,")


def test_unreadable_csv_is_refused(schedule: Schedule) -> None:
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(csv_of("h1,internal,wang,general,2030-03-02,08:00,12:00,30,5", "h1," + "x" * 200_000))
    assert [e.line for e in caught.value.errors] == [3]
    assert caught.value.errors[0].reason.startswith("unreadable CSV")


def test_bom_crlf_spaces_case_and_blank_lines_are_accepted(schedule: Schedule) -> None:
    text = (
        "\ufeff Hospital , Department,DOCTOR,level,date,start,end,capacity,fee\r\n"
        "h1 , internal , wang , Expert , 2030-03-02 , 8:00 , 12:00 , 30 , 12.50 \r\n"
        "\r\n"
        "h1,internal,li,general,2030-03-02,13:00,17:00,3,5\r\n"
        "\r\n"
        "   \r\n"
    )
    assert schedule.import_csv(text) == 2
    slot = schedule.slot("h1|internal|wang|2030-03-02|08:00")
    assert slot is not None and slot.level is rules.FeeClass.expert and slot.fee_cents == 1250
    assert (slot.start, slot.end, slot.capacity) == ("08:00", "12:00", 30)


def test_line_numbers_count_blank_lines_and_quoted_newlines(schedule: Schedule) -> None:
    text = (
        "\ufeffhospital,department,doctor,level,date,start,end,capacity,fee,doctor_name\r\n"
        "\r\n"
        'h1,internal,wang,general,2030-03-02,08:00,12:00,30,5,"Wang\r\nsecond line"\r\n'
        "h1,internal,li,general,2030-03-02,08:00,12:00,-3,5,Li\r\n"
    )
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert [(e.line, e.reason.split(" ")[0]) for e in caught.value.errors] == [(3, "bad"), (5, "negative")]
    assert caught.value.errors[0].reason.startswith('bad doctor_name "Wang')


def test_doctor_name_column(schedule: Schedule) -> None:
    text = csv_of(
        "h1,internal,wang,expert,2030-03-02,08:00,12:00,30,50,王建国 主任医师",
        'h1,internal,li,general,2030-03-02,08:00,12:00,30,5,"Li, Ming"',
        "h1,internal,zhou,general,2030-03-02,13:00,17:00,30,5,",
        header=HEADER + ",doctor_name",
    )
    assert schedule.import_csv(text) == 3
    names = {s.doctor: s.doctor_name for s in schedule.slots("h1", "internal", "2030-03-02")}
    assert names == {"wang": "王建国 主任医师", "li": "Li, Ming", "zhou": "zhou"}


def test_columns_are_matched_by_name(schedule: Schedule) -> None:
    header = "doctor_name,fee,capacity,end,start,date,level,doctor,department,hospital"
    text = csv_of("王医生,12.5,30,12:00,08:00,2030-03-02,general,wang,internal,h1", header=header)
    assert schedule.import_csv(text) == 1
    slot = schedule.slot("h1|internal|wang|2030-03-02|08:00")
    assert slot is not None and slot.doctor_name == "王医生" and slot.fee_cents == 1250 and slot.capacity == 30


def test_parse_without_writing(config: Config, redis_db: redis.Redis) -> None:
    rows = parse_schedule_csv(GOOD, config)
    assert [r.line for r in rows] == [2, 3, 4, 5, 6, 7]
    assert rows[0].slot_id == "h1|internal|wang|2030-03-02|08:00" and rows[0].start_minutes == 480
    assert redis_db.dbsize() == 0


# --- re-import -----------------------------------------------------------------------------------------------
def test_same_file_twice_is_idempotent(schedule: Schedule, redis_db: redis.Redis, config: Config) -> None:
    assert redis_db.xlen(keys.AUDIT) == 0
    assert schedule.import_csv(GOOD) == 6
    assert [e.action for e in read_audit(redis_db)] == ["schedule_imported"]
    first = snapshot(redis_db)
    assert schedule.import_csv(GOOD) == 6
    assert snapshot(redis_db) == first
    result = schedule.import_rows(parse_schedule_csv(GOOD, config))
    assert (result.created, result.updated, result.accepted) == (0, 6, 6)


def test_reimport_applies_changes_and_keeps_bookings_state(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    wang = "h1|internal|wang|2030-03-02|08:00"
    redis_db.hset(keys.slot(wang), mapping={"taken": 5, "next_queue": 7, "status": "suspended"})
    changed = csv_of(
        "h1,internal,wang,expert,2030-03-02,08:00,11:00,40,20,Dr Wang",
        "h1,internal,li,expert,2030-03-02,08:00,11:30,12,50,",
        "h1,eye,new,general,2030-03-04,09:00,10:00,3,1,",
        header=HEADER + ",doctor_name",
    )
    assert schedule.import_csv(changed) == 3
    slot = schedule.slot(wang)
    assert slot is not None
    assert (slot.capacity, slot.fee_cents, slot.end, slot.level, slot.doctor_name) == (
        40,
        2000,
        "11:00",
        rules.FeeClass.expert,
        "Dr Wang",
    )
    assert (slot.taken, slot.status) == (5, "suspended")
    assert redis_db.hget(keys.slot(wang), "next_queue") == b"7"
    assert schedule.slot("h1|internal|li|2030-03-02|08:00").capacity == 12  # type: ignore[union-attr]
    # slots absent from the new file survive, with their indexes
    assert len(schedule.slots("h1", "internal", "2030-03-02")) == 3
    assert schedule.slot("h2|internal|wang|2030-03-02|13:30") is not None
    assert schedule.dates("h1") == ["2030-03-01", "2030-03-02", "2030-03-03", "2030-03-04"]


def test_shrinking_below_bookings_is_refused_as_a_whole(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    redis_db.hset(keys.slot("h1|internal|wang|2030-03-02|08:00"), "taken", 5)
    redis_db.hset(keys.slot("h1|internal|li|2030-03-02|08:00"), "taken", 9)
    before = snapshot(redis_db)
    text = csv_of(
        "h1,eye,new,general,2030-03-04,09:00,10:00,3,1",
        "h1,internal,li,expert,2030-03-02,08:00,11:30,10,50",
        "h1,internal,wang,general,2030-03-02,08:00,12:00,4,12.5",
        "h1,internal,chen,expert,2030-03-02,07:30,09:00,1,80",
    )
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert caught.value.errors == [
        RowError(4, "capacity 4 is below the 5 places already booked in slot h1|internal|wang|2030-03-02|08:00")
    ]
    assert str(caught.value).startswith("schedule import refused: 1 bad row (line 4: capacity 4 is below")
    assert snapshot(redis_db) == before
    assert schedule.slot("h1|eye|new|2030-03-04|09:00") is None
    assert [e.action for e in read_audit(redis_db)] == ["schedule_imported"]  # the first import only


def test_an_import_is_audited_in_the_same_script_with_its_actor(
    schedule: Schedule, redis_db: redis.Redis, config: Config
) -> None:
    schedule.import_rows(parse_schedule_csv(GOOD, config), actor="staff:front-desk")
    [entry] = read_audit(redis_db)
    assert (entry.actor, entry.action, entry.serial, entry.pid) == ("staff:front-desk", "schedule_imported", "", "")
    assert entry.detail == "hospitals=h1,h2 rows=6 created=6 updated=0", entry.detail


def test_shrinking_to_exactly_the_bookings_is_accepted(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    wang = "h1|internal|wang|2030-03-02|08:00"
    redis_db.hset(keys.slot(wang), "taken", 5)
    assert schedule.import_csv(csv_of("h1,internal,wang,general,2030-03-02,08:00,12:00,5,12.5")) == 1
    slot = schedule.slot(wang)
    assert slot is not None and (slot.capacity, slot.taken, slot.places_left) == (5, 5, 0)


def test_closing_an_empty_slot_with_capacity_zero_is_accepted(schedule: Schedule) -> None:
    schedule.import_csv(GOOD)
    assert schedule.import_csv(csv_of("h1,internal,wang,general,2030-03-02,08:00,12:00,0,12.5")) == 1
    assert schedule.slot("h1|internal|wang|2030-03-02|08:00").capacity == 0  # type: ignore[union-attr]


# --- status --------------------------------------------------------------------------------------------------
def test_set_slot_status(schedule: Schedule, redis_db: redis.Redis) -> None:
    schedule.import_csv(GOOD)
    wang = "h1|internal|wang|2030-03-02|08:00"
    assert schedule.set_slot_status(wang, "suspended") is True
    slot = schedule.slot(wang)
    assert slot is not None and slot.status == "suspended" and slot.places_left == 0
    assert schedule.set_slot_status(wang, "open") is True
    assert schedule.slot(wang).status == "open"  # type: ignore[union-attr]
    assert schedule.set_slot_status("h1|internal|nobody|2030-03-02|08:00", "suspended") is False
    assert not redis_db.exists(keys.slot("h1|internal|nobody|2030-03-02|08:00"))
    with pytest.raises(ValueError, match="open, suspended"):
        schedule.set_slot_status(wang, "closed")


# --- size ----------------------------------------------------------------------------------------------------
def test_twenty_thousand_rows_import_in_one_go(schedule: Schedule, redis_db: redis.Redis) -> None:
    first = date(2030, 1, 1)
    cells = itertools.product(range(40), ("internal", "surgery", "eye"), range(10), range(17))
    rows = [
        f"h1,{department},doc{doctor},general,{first + timedelta(days=day)},"
        f"{7 + step // 2:02d}:{step % 2 * 30:02d},{8 + step // 2:02d}:{step % 2 * 30:02d},{step},{doctor}.5"
        for day, department, doctor, step in itertools.islice(cells, 20_000)
    ]
    text = csv_of(*rows)
    assert schedule.import_csv(text) == 20_000
    assert len(schedule.dates("h1")) == 40
    assert len(schedule.slots("h1", "internal", "2030-01-01")) == 170
    slot = schedule.slot("h1|eye|doc3|2030-01-02|09:30")
    assert slot is not None and (slot.capacity, slot.fee_cents, slot.end) == (5, 350, "10:30")
    redis_db.hset(keys.slot("h1|eye|doc3|2030-01-02|09:30"), "taken", 2)
    assert schedule.import_csv(text) == 20_000
    assert schedule.slot("h1|eye|doc3|2030-01-02|09:30").taken == 2  # type: ignore[union-attr]


# --- ids: any text without commas, quotes, | or control characters (SPEC §7) -------------------------------
def chinese_config() -> Config:
    return build_config(
        {
            "hospitals": [
                {
                    "id": "协和",
                    "name": "北京协和医院",
                    "name_en": "PUMCH",
                    "departments": [{"id": "心内科", "name": "心血管内科", "name_en": "Cardiology"}],
                },
                # ids with ":" must not share keys: hospital "a:b" on a day vs department "b" of hospital "a"
                {"id": "a:b", "name": "AB", "departments": [{"id": "x", "name": "X"}]},
                {"id": "a", "name": "A", "departments": [{"id": "b", "name": "B"}, {"id": "b:x", "name": "BX"}]},
            ]
        }
    )


def test_chinese_doctor_ids_and_english_names_are_imported(redis_db: redis.Redis) -> None:
    schedule = Schedule(redis_db, chinese_config())
    header = HEADER + ",name_en,doctor_name"
    text = csv_of(
        "协和,心内科,李娜,expert,2030-03-02,08:00,12:00,20,50,Li Na,李娜 主任医师",
        "协和,心内科,Dr. 王 (副主任),general,2030-03-02,13:30,17:00,30,5,,",
        header=header,
    )
    assert schedule.import_csv(text) == 2
    li, wang = sorted(schedule.slots("协和", "心内科", "2030-03-02"), key=lambda s: s.start)
    assert (li.id, li.doctor, li.doctor_name, li.doctor_name_en) == (
        "协和|心内科|李娜|2030-03-02|08:00",
        "李娜",
        "李娜 主任医师",
        "Li Na",
    )
    assert (wang.doctor, wang.doctor_name, wang.doctor_name_en) == ("Dr. 王 (副主任)", "Dr. 王 (副主任)", "")
    assert schedule.dates("协和", "心内科") == ["2030-03-02"]
    assert schedule.hospital("协和") is not None and schedule.department("协和", "心内科") is not None


def test_ids_with_colons_keep_their_keys_apart(redis_db: redis.Redis) -> None:
    schedule = Schedule(redis_db, chinese_config())
    text = csv_of(
        "a:b,x,d1,general,2030-03-02,08:00,12:00,20,5",
        "a,b,d2,general,2030-03-02,09:00,12:00,20,5",
        "a,b:x,d3,general,2030-03-02,10:00,12:00,20,5",
    )
    assert schedule.import_csv(text) == 3
    assert [s.doctor for s in schedule.slots("a", "b", "2030-03-02")] == ["d2"]
    assert [s.doctor for s in schedule.slots("a", "b:x", "2030-03-02")] == ["d3"]
    assert [s.doctor for s in schedule.slots("a:b", "x", "2030-03-02")] == ["d1"]
    day_of_ab = [m.decode() for m in redis_db.zrange(keys.slots_of_day("a:b", "2030-03-02"), 0, -1)]
    assert day_of_ab == ["a:b|x|d1|2030-03-02|08:00"]
    assert len({keys.slots_of_day("a:b", "d"), keys.slots_of_department_day("a", "b", "d")}) == 2
    assert keys.slots_of_day("h1", "2030-03-02") == "gh:slots:h1:2030-03-02", "plain ids keep their old keys"


@pytest.mark.parametrize("bad", ["李|娜", "李\t娜", "'李娜'", "“李娜”", "李\u200b娜"])
def test_doctor_ids_refuse_separators_quotes_and_control_characters(redis_db: redis.Redis, bad: str) -> None:
    schedule = Schedule(redis_db, chinese_config())
    cell = '"' + bad.replace('"', '""') + '"'
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(csv_of(f"协和,心内科,{cell},expert,2030-03-02,08:00,12:00,20,50"))
    [error] = caught.value.errors
    assert error.line == 2 and error.reason.startswith("bad doctor id")


def test_a_bad_english_name_is_reported(schedule: Schedule) -> None:
    text = csv_of("h1,internal,wang,general,2030-03-02,08:00,12:00,30,5," + "x" * 65, header=HEADER + ",name_en")
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert caught.value.errors[0].reason.startswith('bad name_en "xxx')


# --- one slot schema: bot.records declares the stored names; the CSV row, the Lua script and the readers follow ----
def test_the_lua_script_lists_the_scheduled_fields_of_the_slot_schema() -> None:
    source = (Path(bot.storage.__file__).parent / "lua" / "import_slots.lua").read_text()
    listed = re.search(r"local FIELDS = \{(.*?)\}", source, re.DOTALL)
    assert listed is not None
    assert tuple(re.findall(r"'([a-z_]+)'", listed[1])) == SCHEDULED_FIELDS


def test_a_slot_hash_holds_the_schema_and_reads_back_as_the_row(
    schedule: Schedule, redis_db: redis.Redis, config: Config
) -> None:
    text = csv_of(
        "h1,internal,wang,Expert,2030-03-02,8:00,12:00,30,12.5,王医生,Dr Wang", header=HEADER + ",doctor_name,name_en"
    )
    (row,) = parse_schedule_csv(text, config)
    schedule.import_rows([row])
    stored = {k.decode(): v.decode() for k, v in redis_db.hgetall(keys.slot(row.slot_id)).items()}
    assert set(stored) == {*SCHEDULED_FIELDS, "taken", "next_queue", "status"}
    assert [stored[name] for name in SCHEDULED_FIELDS] == row.stored
    slot = schedule.slot(row.slot_id)
    assert slot is not None
    assert {name: getattr(slot, name) for name in SCHEDULED_FIELDS} == {
        name: getattr(row, name) for name in SCHEDULED_FIELDS
    }


def test_every_bad_cell_of_a_row_is_reported_in_column_order(schedule: Schedule) -> None:
    text = csv_of("h1,nope,a|b,vip,2030-02-30,9:00,08:00,-3,1.234")
    with pytest.raises(ScheduleImportError) as caught:
        schedule.import_csv(text)
    assert [e.reason for e in caught.value.errors] == [
        'unknown department "nope" of hospital "h1"',
        'bad doctor id "a|b": expected an id (text without commas, quotes, | or control characters)',
        'bad level "vip": expected general, expert or special',
        'bad date "2030-02-30": expected a real date YYYY-MM-DD',
        "end before start: end 08:00 must be after start 09:00",
        "negative capacity -3",
        'bad fee "1.234": expected yuan with at most 2 decimals, e.g. 50 or 12.5',
    ]
