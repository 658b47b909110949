"""The waitlist (候补, RULES §10) and reschedule (改约, RULES §11) rules: every branch."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import (
    AppointmentFacts,
    AppointmentStatus,
    Decision,
    FeeClass,
    SlotFacts,
    build_policy,
    check_claim,
    check_join,
    check_movable,
    check_reschedule,
    fee_difference,
    hold_until,
    others,
    waiting_ends,
    waiting_open,
)

TZ = ZoneInfo("Asia/Shanghai")
VISIT = datetime(2026, 11, 25, 8, 0, tzinfo=TZ)  # deadline (beijing-114): 24 Nov 15:00
DEADLINE = datetime(2026, 11, 24, 15, 0, tzinfo=TZ)
POLICY = build_policy()


def slot(start: datetime = VISIT, doctor: str = "dr", fee: int = 500, level: FeeClass = FeeClass.general) -> SlotFacts:
    return SlotFacts("h1", "nk", doctor, level, fee, start, start + timedelta(hours=4))


def appointment(serial: str, status: AppointmentStatus = AppointmentStatus.booked, **kw: object) -> AppointmentFacts:
    return AppointmentFacts(serial, slot(**kw), status, datetime(2026, 11, 23, 8, tzinfo=TZ))  # type: ignore[arg-type]


# --- waitlist ------------------------------------------------------------------------------------------------
def test_waiting_ends_at_the_cancellation_deadline() -> None:
    assert waiting_ends(POLICY, slot()) == DEADLINE
    assert waiting_open(POLICY, slot(), DEADLINE - timedelta(seconds=1))
    assert not waiting_open(POLICY, slot(), DEADLINE)


def test_the_hold_is_the_configured_minutes() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    assert hold_until(POLICY, slot(), now) == now + timedelta(minutes=15)
    longer = build_policy(overrides={"waitlist_hold_minutes": 40})
    assert hold_until(longer, slot(), now) == now + timedelta(minutes=40)


def test_the_hold_never_outlasts_the_deadline() -> None:
    now = DEADLINE - timedelta(minutes=5)
    assert hold_until(POLICY, slot(), now) == DEADLINE


def test_nothing_is_held_once_waiting_ended() -> None:
    assert hold_until(POLICY, slot(), DEADLINE) is None


def test_changshu_waits_until_the_start() -> None:
    changshu = build_policy("changshu")
    assert waiting_ends(changshu, slot()) == VISIT


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("waiting_for", "now", "booking", "rule"),
    [
        ([], NOW, Decision.ok(), None),
        ([slot(doctor="a"), slot(doctor="b")], NOW, Decision.ok(), None),
        ([], DEADLINE, Decision.ok(), "waitlist_closed"),
        ([slot()], NOW, Decision.ok(), "waitlist_already"),
        ([slot(doctor="a"), slot(doctor="b"), slot(doctor="c")], NOW, Decision.ok(), "waitlist_max"),
        ([], NOW, Decision.refuse("limit_same_day"), "limit_same_day"),
    ],
)
def test_check_join(waiting_for: list[SlotFacts], now: datetime, booking: Decision, rule: str | None) -> None:
    decision = check_join(POLICY, booking, slot(), waiting_for, now)
    assert decision.allowed is (rule is None)
    assert decision.rule == rule


def test_a_closed_waitlist_says_when_it_closed() -> None:
    assert check_join(POLICY, Decision.ok(), slot(), [], DEADLINE).retry_after == DEADLINE


def test_the_waitlist_can_be_turned_off() -> None:
    off = build_policy(overrides={"waitlist_max_entries": 0})
    assert check_join(off, Decision.ok(), slot(), [], NOW).rule == "waitlist_max"


def test_check_claim() -> None:
    held = NOW + timedelta(minutes=15)
    assert check_claim(Decision.ok(), held, NOW).allowed
    assert check_claim(Decision.refuse("limit_same_day"), held, NOW).rule == "limit_same_day"
    late = check_claim(Decision.ok(), held, held)
    assert (late.rule, late.retry_after) == ("offer_expired", held)


# --- reschedule ----------------------------------------------------------------------------------------------
def test_others_leaves_the_old_appointment_out() -> None:
    mine = [appointment("1"), appointment("2", doctor="x")]
    assert [a.serial for a in others(mine, "1")] == ["2"]


@pytest.mark.parametrize(
    ("old", "new", "now", "booking", "rule"),
    [
        (appointment("1"), slot(doctor="other"), NOW, Decision.ok(), None),
        (
            appointment("1", AppointmentStatus.cancelled),
            slot(doctor="other"),
            NOW,
            Decision.ok(),
            "reschedule_not_booked",
        ),
        (appointment("1"), slot(doctor="other"), DEADLINE, Decision.ok(), "reschedule_deadline_passed"),
        (appointment("1"), slot(), NOW, Decision.ok(), "reschedule_same_slot"),
        (appointment("1"), slot(doctor="other"), NOW, Decision.refuse("limit_7_days"), "limit_7_days"),
    ],
)
def test_check_reschedule(
    old: AppointmentFacts, new: SlotFacts, now: datetime, booking: Decision, rule: str | None
) -> None:
    decision = check_reschedule(POLICY, old, new, booking, now)
    assert decision.rule == rule
    assert decision.allowed is (rule is None)


def test_a_move_too_late_says_the_deadline() -> None:
    refused = check_reschedule(POLICY, appointment("1"), slot(doctor="x"), Decision.ok(), DEADLINE)
    assert refused.retry_after == DEADLINE


def test_a_dearer_slot_costs_the_difference() -> None:
    difference = fee_difference(POLICY, slot(fee=500), slot(fee=5000, level=FeeClass.expert), NOW)
    assert (difference.old_cents, difference.new_cents, difference.to_pay_cents, difference.refund_cents) == (
        500,
        5000,
        4500,
        0,
    )
    assert not difference.same


def test_the_same_fee_costs_nothing() -> None:
    assert fee_difference(POLICY, slot(), slot(doctor="x"), NOW).same


def test_a_cheaper_slot_refunds_the_difference_by_the_old_class() -> None:
    expert = slot(fee=5000, level=FeeClass.expert)
    early = fee_difference(POLICY, expert, slot(fee=500), NOW)  # more than 24 h before: in full
    assert (early.to_pay_cents, early.refund_cents) == (0, 4500)
    late = fee_difference(POLICY, expert, slot(fee=500), VISIT - timedelta(hours=3))  # 80 % of the difference
    assert late.refund_cents == 3600
    general = fee_difference(POLICY, slot(fee=800), slot(fee=500), VISIT - timedelta(hours=3))
    assert general.refund_cents == 300


def test_check_movable() -> None:
    assert check_movable(POLICY, appointment("1"), NOW).allowed
    assert check_movable(POLICY, appointment("1", AppointmentStatus.attended), NOW).rule == "reschedule_not_booked"
    assert check_movable(POLICY, appointment("1"), DEADLINE).rule == "reschedule_deadline_passed"
