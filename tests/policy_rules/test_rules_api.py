"""The public API of rules and check_booking."""

from __future__ import annotations

import inspect
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import rules
from rules import (
    AppointmentFacts,
    AppointmentStatus,
    Decision,
    FeeClass,
    SlotFacts,
    Standing,
    build_policy,
    check_booking,
)

CONTRACT = {
    "Policy", "PolicyError", "PRESETS", "DEFAULT_PRESET", "build_policy", "policy_keys",
    "IdCheck", "validate_id_number", "id_check_digit", "normalize_mobile",
    "mask_id", "mask_phone", "mask_name", "mask_personal",
    "Person", "person_from_id", "age_on", "DepartmentLimits", "department_allows",
    "FeeClass", "AppointmentStatus", "SlotFacts", "AppointmentFacts", "NoShowFacts", "Decision",
    "booking_window", "release_at", "check_window", "check_limits",
    "CancelOutcome", "CancelTerms", "cancel_deadline", "cancel_terms",
    "hospital_cancel_terms", "refund_cents",
    "Standing", "compute_standing", "check_standing", "add_months", "ReminderKind", "reminder_times",
    "check_booking",
    "lottery_window", "in_lottery_window", "LotteryEntry", "screen", "entrant_hash", "draw_order",
    "LotteryFacts", "LotteryOutcome", "allocate",
    "waiting_ends", "waiting_open", "hold_until", "check_join", "check_claim",
    "FeeDifference", "check_movable", "check_reschedule", "fee_difference", "others",
}  # fmt: skip


def test_all_is_the_contract() -> None:
    assert set(rules.__all__) == CONTRACT
    assert all(hasattr(rules, name) for name in rules.__all__)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_public_name_is_documented(name: str) -> None:
    assert name in (rules.__doc__ or "")
    obj = getattr(rules, name)
    if inspect.isfunction(obj) or inspect.isclass(obj):
        doc = inspect.getdoc(obj) or ""
        assert doc and "\n" not in doc.strip(), f"{name} needs a one-line docstring"


TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 3, 10, 10, tzinfo=TZ)
GOOD = Standing(0, None, None)


def slot(start: datetime, hospital: str = "协和") -> SlotFacts:
    return SlotFacts(hospital, "内科", "王医生", FeeClass.general, 500, start, start + timedelta(minutes=30))


def test_check_booking_allows() -> None:
    assert check_booking(build_policy(), [], slot(datetime(2024, 3, 12, 9, tzinfo=TZ)), GOOD, NOW) == Decision.ok()


def test_check_booking_order() -> None:
    policy = build_policy()
    suspended = Standing(3, date(2024, 4, 1), "no_show")
    too_far = slot(datetime(2024, 3, 30, 9, tzinfo=TZ))
    visit = slot(datetime(2024, 3, 12, 9, tzinfo=TZ))
    taken = [AppointmentFacts("1", visit, AppointmentStatus.booked, NOW - timedelta(days=1))]
    assert check_booking(policy, taken, too_far, suspended, NOW).rule == "suspended"
    assert check_booking(policy, taken, too_far, GOOD, NOW).rule == "window_too_far"
    assert check_booking(policy, taken, visit, GOOD, NOW).rule == "already_booked"


def test_check_booking_reads_standing_in_the_policy_zone() -> None:
    # 16:30 UTC on 1 April is 00:30 on 2 April in Beijing: a suspension until 1 April is over.
    now = datetime(2024, 4, 1, 16, 30, tzinfo=ZoneInfo("UTC"))
    standing = Standing(3, date(2024, 4, 1), "no_show")
    assert check_booking(build_policy(), [], slot(datetime(2024, 4, 5, 9, tzinfo=TZ)), standing, now).allowed


def test_same_day_slot_that_started_cannot_be_booked() -> None:
    changshu = build_policy("changshu")
    morning = slot(datetime(2024, 3, 10, 9, 30, tzinfo=TZ))
    afternoon = slot(datetime(2024, 3, 10, 14, tzinfo=TZ))
    assert check_booking(changshu, [], morning, GOOD, NOW) == Decision(
        False, "slot_started", None, "the slot has already started"
    )
    assert check_booking(changshu, [], afternoon, GOOD, NOW).allowed
    assert check_booking(build_policy(), [], afternoon, GOOD, NOW).rule == "window_past"


def test_check_booking_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        naive = datetime(2024, 3, 10)  # noqa: DTZ001
        check_booking(build_policy(), [], slot(datetime(2024, 3, 12, 9, tzinfo=TZ)), GOOD, naive)
