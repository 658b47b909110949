"""The release lottery's rules (RULES §12): the window, the reproducible order, anti-scalping, places in draw order."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import (
    AppointmentFacts,
    AppointmentStatus,
    FeeClass,
    LotteryEntry,
    LotteryFacts,
    PolicyError,
    SlotFacts,
    Standing,
    allocate,
    build_policy,
    draw_order,
    entrant_hash,
    in_lottery_window,
    lottery_window,
    screen,
)

TZ = ZoneInfo("Asia/Shanghai")
LOTTERY = build_policy(overrides={"release_mode": "lottery", "lottery_window_seconds": 60})
VISIT = date(2026, 11, 30)
OPENS = datetime(2026, 11, 23, 7, 30, tzinfo=TZ)
GOOD = Standing(0, None, None)


def slot(start_hour: int = 8, department: str = "内科") -> SlotFacts:
    start = datetime(2026, 11, 30, start_hour, tzinfo=TZ)
    return SlotFacts("h1", department, "dr", FeeClass.general, 500, start, start + timedelta(hours=1))


def entry(
    pid: str, slot_id: str = "s1", acct: str | None = None, phone: str | None = None, seq: int = 0
) -> LotteryEntry:
    return LotteryEntry(pid, slot_id, acct or f"acct-{pid}", phone or f"phone-{pid}", seq)


# --- the window ------------------------------------------------------------------------------------------------


def test_first_come_has_no_window() -> None:
    policy = build_policy()
    assert policy.release_mode == "first_come" and policy.lottery_window_seconds == 60
    assert lottery_window(policy, VISIT) is None
    assert not in_lottery_window(policy, VISIT, OPENS)


def test_the_window_starts_at_the_release_and_lasts_its_seconds() -> None:
    assert lottery_window(LOTTERY, VISIT) == (OPENS, OPENS + timedelta(seconds=60))
    assert not in_lottery_window(LOTTERY, VISIT, OPENS - timedelta(seconds=1))
    assert in_lottery_window(LOTTERY, VISIT, OPENS)
    assert in_lottery_window(LOTTERY, VISIT, OPENS + timedelta(seconds=59.9))
    assert not in_lottery_window(LOTTERY, VISIT, OPENS + timedelta(seconds=60))
    assert not in_lottery_window(LOTTERY, VISIT - timedelta(days=1), OPENS), "a day released yesterday: first-come"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"release_mode": "raffle"}, 'release_mode: expected one of "first_come", "lottery", got "raffle"'),
        ({"lottery_window_seconds": 0}, "lottery_window_seconds: expected an integer from 1 to 3600, got 0"),
        ({"lottery_window_seconds": 3601}, "lottery_window_seconds: expected an integer from 1 to 3600, got 3601"),
    ],
)
def test_bad_lottery_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        build_policy(overrides=overrides)
    assert str(raised.value) == message


# --- the order ---------------------------------------------------------------------------------------------------


def test_the_order_is_the_seeds_shuffle_of_the_sorted_hashes() -> None:
    hashes = [entrant_hash("h1|2026-11-30", f"pid-{n}") for n in range(50)]
    assert len(set(hashes)) == 50 and all(len(h) == 32 for h in hashes)
    expected = sorted(hashes)
    random.Random(1234).shuffle(expected)
    assert draw_order(reversed(hashes), 1234) == expected == draw_order(hashes + hashes[:3], 1234)
    assert draw_order(hashes, 1235) != expected


def test_entrant_hashes_differ_between_draws() -> None:
    assert entrant_hash("h1|2026-11-30", "p") != entrant_hash("h1|2026-12-01", "p")


# --- anti-scalping -----------------------------------------------------------------------------------------------


def test_one_entry_per_patient_per_slot() -> None:
    entered, excluded = screen([entry("a", seq=2), entry("a", seq=1), entry("a", "s2", seq=3)], limit=5)
    assert [(e.slot_id, e.seq) for e in entered] == [("s1", 1), ("s2", 3)]
    assert excluded == {}


def test_an_account_enters_at_most_the_limit_of_patients() -> None:
    entries = [entry(p, acct="scalper", seq=i) for i, p in enumerate("abc")] + [entry("a", "s2", acct="scalper", seq=9)]
    entered, excluded = screen(entries, limit=2)
    assert [(e.pid, e.slot_id) for e in entered] == [("a", "s1"), ("b", "s1"), ("a", "s2")]
    assert excluded == {"c": "lottery_account_limit"}


def test_a_phone_enters_at_most_the_limit_of_patients() -> None:
    entries = [entry(p, phone="138", seq=i) for i, p in enumerate("abc")]
    entered, excluded = screen(entries, limit=2)
    assert [e.pid for e in entered] == ["a", "b"]
    assert excluded == {"c": "lottery_phone_limit"}


def test_a_patient_refused_from_one_account_but_entered_from_another_is_entered() -> None:
    entries = [entry("a", acct="x", seq=1), entry("b", acct="x", seq=2), entry("b", "s2", acct="own-b", seq=3)]
    entered, excluded = screen(entries, limit=1)
    assert [(e.pid, e.acct) for e in entered] == [("a", "x"), ("b", "own-b")]
    assert excluded == {}


def test_flagged_patients_are_not_entered() -> None:
    entered, excluded = screen([entry("a", seq=1), entry("b", seq=2)], limit=5, flagged={"b"})
    assert [e.pid for e in entered] == ["a"]
    assert excluded == {"b": "flagged"}


# --- places in draw order ----------------------------------------------------------------------------------------

NOW = OPENS + timedelta(seconds=61)


def test_places_go_in_draw_order_one_per_patient() -> None:
    entries = [entry("a", "s1", seq=1), entry("a", "s2", seq=2), entry("b", seq=3), entry("c", seq=4)]
    facts = {p: LotteryFacts((), GOOD) for p in "abc"}
    outcomes = allocate(
        LOTTERY, ["c", "a", "b"], entries, {"s1": slot(), "s2": slot(9)}, {"s1": 1, "s2": 1}, facts, NOW
    )
    assert [(o.pid, o.position, o.entry.slot_id if o.entry else None, o.reason) for o in outcomes] == [
        ("c", 1, "s1", ""),
        ("a", 2, "s2", ""),  # s1 went to c: a's next entry
        ("b", 3, None, "not_drawn"),
    ]


def test_limits_apply_in_draw_order() -> None:
    booked = AppointmentFacts("00000001", slot(14), AppointmentStatus.booked, NOW - timedelta(days=1))
    facts = {"a": LotteryFacts([booked], GOOD), "b": LotteryFacts((), GOOD)}
    outcomes = allocate(
        LOTTERY, ["a", "b"], [entry("a", seq=1), entry("b", seq=2)], {"s1": slot()}, {"s1": 1}, facts, NOW
    )
    assert [(o.pid, o.entry is not None, o.reason) for o in outcomes] == [
        ("a", False, "limit_same_day_department"),
        ("b", True, ""),  # the place a could not take went to the next in the order
    ]


def test_a_patient_without_an_entered_entry_gets_nothing() -> None:
    outcomes = allocate(LOTTERY, ["z"], [], {}, {}, {"z": LotteryFacts((), GOOD)}, NOW)
    assert outcomes[0].entry is None and outcomes[0].reason == "not_drawn"
