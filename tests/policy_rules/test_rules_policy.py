"""Policy, presets and config overrides."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import time
from zoneinfo import ZoneInfo

import pytest

from rules import DEFAULT_PRESET, PRESETS, Policy, PolicyError, build_policy, policy_keys


def test_default_preset_is_beijing_with_rules_md_numbers() -> None:
    policy = build_policy()
    assert DEFAULT_PRESET == "beijing-114"
    assert policy == PRESETS["beijing-114"] == Policy()
    assert (policy.booking_days_ahead, policy.same_day, policy.release_time) == (7, False, "07:30")
    assert (policy.limit_same_day_department, policy.limit_same_day) == (1, 2)
    assert (policy.limit_7_days, policy.limit_3_months) == (3, 5)
    assert (policy.cancel_deadline, policy.late_cancel) == ("15:00", "refuse")
    assert policy.no_show_tiers == ((3, 3), (6, 6))
    assert (policy.otp_length, policy.otp_ttl_seconds, policy.otp_max_attempts) == (6, 300, 5)
    assert (policy.otp_resend_seconds, policy.otp_max_per_hour, policy.max_patients_per_account) == (60, 5, 5)


def test_changshu_preset() -> None:
    policy = build_policy("changshu")
    assert policy.same_day is True
    assert policy.cancel_deadline == "start"
    assert policy.cancel_deadline_minutes is None
    assert policy.late_cancel == "refuse"
    assert policy.no_show_tiers == ((3, 3),)
    assert set(PRESETS) == {"beijing-114", "changshu"}


def test_presets_are_read_only() -> None:
    with pytest.raises(TypeError):
        PRESETS["x"] = Policy()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["changshu"].same_day = False  # type: ignore[misc]


def test_overrides_from_toml_shapes() -> None:
    policy = build_policy(
        "beijing-114",
        {
            "cancel_deadline": "14:00",
            "no_show_tiers": [[3, 6]],
            "no_show_window": "rolling_month",
            "same_day": True,
            "late_cancel": "allow_with_violation",
            "timezone": "Asia/Urumqi",
        },
    )
    assert policy.no_show_tiers == ((3, 6),)
    assert policy.cancel_deadline_minutes == 14 * 60
    assert policy.tz == ZoneInfo("Asia/Urumqi")
    assert policy.late_cancel == "allow_with_violation"


def test_base_wins_over_preset_and_empty_overrides_change_nothing() -> None:
    base = Policy(limit_7_days=4)
    assert build_policy("no-such-preset", None, base=base) == base  # the preset is not even looked up
    assert build_policy(base=base, overrides={"limit_3_months": 9}) == Policy(limit_7_days=4, limit_3_months=9)
    assert build_policy("changshu", {}) == PRESETS["changshu"]


def test_policy_keys_are_the_fields() -> None:
    keys = policy_keys()
    assert keys == tuple(f.name for f in dataclasses.fields(Policy))
    assert {"timezone", "cancel_deadline", "no_show_tiers", "rate_limit_per_minute"} <= set(keys)


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("15:00", 900), ("14:00", 840), ("24:00", 1440), ("00:00", 0), ("23:59", 1439), ("start", None)],
)
def test_cancel_deadline_values(value: str, minutes: int | None) -> None:
    assert build_policy(overrides={"cancel_deadline": value}).cancel_deadline_minutes == minutes


def test_clock_properties() -> None:
    policy = build_policy(overrides={"release_time": "08:05", "reminder_day_before_time": "00:00"})
    assert policy.release_clock == time(8, 5)
    assert policy.reminder_day_before_clock == time(0, 0)


def test_exact_message_for_bad_time() -> None:
    with pytest.raises(PolicyError) as caught:
        build_policy(overrides={"cancel_deadline": "25:00"})
    assert str(caught.value) == 'cancel_deadline: expected HH:MM, got "25:00"'
    assert (caught.value.key, caught.value.expected, caught.value.got) == (
        "cancel_deadline",
        "HH:MM",
        "25:00",
    )
    assert isinstance(caught.value, ValueError)


def test_policy_error_survives_pickling() -> None:
    error = PolicyError("release_time", "HH:MM", "7h")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.key, copy.got) == (PolicyError, str(error), "release_time", "7h")


def test_unknown_preset() -> None:
    with pytest.raises(PolicyError) as caught:
        build_policy("shanghai")
    assert str(caught.value) == 'preset: expected one of "beijing-114", "changshu", got "shanghai"'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, 'colour: expected a known policy key, got "red"'),
        ({"limit_7_days": True}, "limit_7_days: expected an integer, got true"),
        ({"limit_7_days": "3"}, 'limit_7_days: expected an integer, got "3"'),
        ({"limit_7_days": 3.0}, "limit_7_days: expected an integer, got 3.0"),
        ({"limit_7_days": 0}, "limit_7_days: expected a positive integer, got 0"),
        (
            {"checkin_deadline_minutes": -1},
            "checkin_deadline_minutes: expected an integer from 0 to 1440, got -1",
        ),
        # lead times past a year would put their moments off the calendar (OverflowError at every booking step)
        (
            {"expert_full_refund_hours": 10**9},
            "expert_full_refund_hours: expected an integer from 0 to 8760, got 1000000000",
        ),
        ({"special_full_refund_days": 366}, "special_full_refund_days: expected an integer from 0 to 365, got 366"),
        ({"otp_ttl_seconds": 86401}, "otp_ttl_seconds: expected an integer from 1 to 86400, got 86401"),
        ({"waitlist_hold_minutes": 10081}, "waitlist_hold_minutes: expected an integer from 1 to 10080, got 10081"),
        ({"booking_days_ahead": -1}, "booking_days_ahead: expected an integer from 0 to 365, got -1"),
        ({"booking_days_ahead": 366}, "booking_days_ahead: expected an integer from 0 to 365, got 366"),
        ({"booking_days_ahead": 0}, "booking_days_ahead: expected at least 1 unless same_day, got 0"),
        ({"same_day": 1}, "same_day: expected true or false, got 1"),
        ({"same_day": "yes"}, 'same_day: expected true or false, got "yes"'),
        (
            {"expert_deduction_percent": 9},
            "expert_deduction_percent: expected an integer from 10 to 30, got 9",
        ),
        (
            {"expert_deduction_percent": 31},
            "expert_deduction_percent: expected an integer from 10 to 30, got 31",
        ),
        (
            {"special_refund_percent": 101},
            "special_refund_percent: expected an integer from 0 to 100, got 101",
        ),
        ({"otp_length": 3}, "otp_length: expected an integer from 4 to 10, got 3"),
        (
            {"late_cancel": "maybe"},
            'late_cancel: expected one of "refuse", "allow_with_violation", got "maybe"',
        ),
        ({"no_show_window": 12}, 'no_show_window: expected one of "calendar_year", "rolling_month", got 12'),
        ({"release_time": "24:00"}, 'release_time: expected HH:MM, got "24:00"'),
        ({"release_time": "7:30"}, 'release_time: expected HH:MM, got "7:30"'),
        ({"release_time": "07:60"}, 'release_time: expected HH:MM, got "07:60"'),
        ({"release_time": "07:30\n"}, 'release_time: expected HH:MM, got "07:30\\n"'),
        ({"release_time": "０７:３０"}, 'release_time: expected HH:MM, got "０７:３０"'),
        ({"release_time": 730}, "release_time: expected HH:MM, got 730"),
        ({"reminder_day_before_time": "18h"}, 'reminder_day_before_time: expected HH:MM, got "18h"'),
        ({"cancel_deadline": "24:01"}, 'cancel_deadline: expected HH:MM, got "24:01"'),
        ({"cancel_deadline": "noon"}, 'cancel_deadline: expected HH:MM or "start", got "noon"'),
        ({"cancel_deadline": 15}, 'cancel_deadline: expected HH:MM or "start", got 15'),
        ({"timezone": "Mars/Olympus"}, 'timezone: expected an IANA time zone, got "Mars/Olympus"'),
        ({"timezone": "America"}, 'timezone: expected an IANA time zone, got "America"'),
        ({"timezone": "../etc"}, 'timezone: expected an IANA time zone, got "../etc"'),
        ({"timezone": 8}, "timezone: expected an IANA time zone, got 8"),
        ({"no_show_tiers": "3:3"}, 'no_show_tiers: expected a list of [count, months] pairs, got "3:3"'),
        ({"no_show_tiers": [3, 3]}, "no_show_tiers: expected a list of [count, months] pairs, got [3, 3]"),
        ({"no_show_tiers": [[3]]}, "no_show_tiers: expected a list of [count, months] pairs, got [[3]]"),
        (
            {"no_show_tiers": [[3, "3"]]},
            'no_show_tiers: expected a list of [count, months] pairs, got [[3, "3"]]',
        ),
        (
            {"no_show_tiers": [[True, 3]]},
            "no_show_tiers: expected a list of [count, months] pairs, got [[true, 3]]",
        ),
        (
            {"no_show_tiers": [[3, 3], [3, 6]]},
            "no_show_tiers: expected a list of [count, months] pairs with increasing counts and months >= 1, "
            "got [[3, 3], [3, 6]]",
        ),
        (
            {"no_show_tiers": [[3, 0]]},
            "no_show_tiers: expected a list of [count, months] pairs with increasing counts and months >= 1, "
            "got [[3, 0]]",
        ),
    ],
)
def test_override_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        build_policy(overrides=overrides)
    assert str(caught.value) == message
    assert caught.value.key == next(iter(overrides))


def test_value_that_is_not_json_is_shown_with_repr() -> None:
    with pytest.raises(PolicyError) as caught:
        build_policy(overrides={"release_time": time(7, 30)})
    assert str(caught.value) == "release_time: expected HH:MM, got datetime.time(7, 30)"


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(PolicyError, match="limit_same_day: expected a positive integer, got -2"):
        Policy(limit_same_day=-2)
    assert Policy(booking_days_ahead=0, same_day=True).booking_days_ahead == 0
    assert Policy(no_show_tiers=()).no_show_tiers == ()
