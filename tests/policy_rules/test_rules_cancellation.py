"""Cancellation deadlines, outcomes and refunds."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import (
    CancelOutcome,
    CancelTerms,
    FeeClass,
    Policy,
    SlotFacts,
    build_policy,
    cancel_deadline,
    cancel_terms,
    hospital_cancel_terms,
    refund_cents,
)

TZ = ZoneInfo("Asia/Shanghai")
BEIJING = build_policy()
CHANGSHU = build_policy("changshu")
LENIENT = build_policy(overrides={"late_cancel": "allow_with_violation"})


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=TZ)


def slot(start: datetime, fee_class: FeeClass = FeeClass.general, fee: int = 500) -> SlotFacts:
    return SlotFacts("协和", "内科", "王医生", fee_class, fee, start, start + timedelta(minutes=30))


VISIT = slot(at(3, 12, 9, 30))


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        ("15:00", at(3, 11, 15)),
        ("14:00", at(3, 11, 14)),
        ("24:00", at(3, 12, 0)),
        ("00:00", at(3, 11, 0)),
        ("23:59", at(3, 11, 23, 59)),
        ("start", at(3, 12, 9, 30)),
    ],
)
def test_cancel_deadline(deadline: str, expected: datetime) -> None:
    policy = build_policy(overrides={"cancel_deadline": deadline})
    assert cancel_deadline(policy, VISIT) == expected


def test_deadline_uses_the_local_visit_date() -> None:
    # 00:30 on 1 March in Beijing is 16:30 UTC on 29 February.
    early = slot(at(3, 1, 0, 30).astimezone(ZoneInfo("UTC")))
    assert cancel_deadline(BEIJING, early) == at(2, 29, 15)


@pytest.mark.parametrize(
    ("policy", "now", "outcome", "violation", "rule"),
    [
        (BEIJING, at(3, 11, 14, 59, 59), CancelOutcome.timely, False, None),
        (BEIJING, at(3, 11, 15), CancelOutcome.refused, False, "cancel_deadline_passed"),
        (BEIJING, at(3, 12, 9, 30), CancelOutcome.refused, False, "slot_started"),
        (
            build_policy(overrides={"cancel_deadline": "14:00"}),
            at(3, 11, 13, 59, 59),
            CancelOutcome.timely,
            False,
            None,
        ),
        (
            build_policy(overrides={"cancel_deadline": "14:00"}),
            at(3, 11, 14),
            CancelOutcome.refused,
            False,
            "cancel_deadline_passed",
        ),
        (
            build_policy(overrides={"cancel_deadline": "24:00"}),
            at(3, 11, 23, 59, 59),
            CancelOutcome.timely,
            False,
            None,
        ),
        (
            build_policy(overrides={"cancel_deadline": "24:00"}),
            at(3, 12, 0),
            CancelOutcome.refused,
            False,
            "cancel_deadline_passed",
        ),
        (CHANGSHU, at(3, 12, 9, 29, 59), CancelOutcome.timely, False, None),
        (CHANGSHU, at(3, 12, 9, 30), CancelOutcome.refused, False, "slot_started"),
        (LENIENT, at(3, 11, 14, 59, 59), CancelOutcome.timely, False, None),
        (LENIENT, at(3, 11, 15), CancelOutcome.late, True, None),
        (LENIENT, at(3, 12, 9, 29, 59), CancelOutcome.late, True, None),
        (LENIENT, at(3, 12, 9, 30), CancelOutcome.refused, False, "slot_started"),
        (LENIENT, at(3, 12, 10), CancelOutcome.refused, False, "slot_started"),
    ],
)
def test_cancel_terms(policy: Policy, now: datetime, outcome: CancelOutcome, violation: bool, rule: str | None) -> None:
    terms = cancel_terms(policy, VISIT, now)
    assert (terms.outcome, terms.violation, terms.rule) == (outcome, violation, rule)
    assert terms.deadline == cancel_deadline(policy, VISIT)
    assert terms.refund_cents == (0 if outcome is CancelOutcome.refused else 500)


def test_late_cancellation_uses_the_refund_table() -> None:
    expert = slot(at(3, 12, 9, 30), FeeClass.expert, 10000)
    assert cancel_terms(LENIENT, expert, at(3, 12, 8)) == CancelTerms(
        CancelOutcome.late, at(3, 11, 15), 8000, True, None
    )


START = at(3, 20, 9)


@pytest.mark.parametrize(
    ("fee_class", "fee", "policy", "now", "refund"),
    [
        (FeeClass.general, 500, BEIJING, START - timedelta(seconds=1), 500),
        (FeeClass.general, 500, BEIJING, START - timedelta(days=30), 500),
        (FeeClass.expert, 10000, BEIJING, START - timedelta(hours=24), 10000),
        (FeeClass.expert, 10000, BEIJING, START - timedelta(hours=24) + timedelta(seconds=1), 8000),
        (FeeClass.expert, 10000, BEIJING, START - timedelta(hours=1), 8000),
        (FeeClass.expert, 1234, BEIJING, START - timedelta(hours=1), 987),  # 987.2 -> 987
        (FeeClass.expert, 1237, BEIJING, START - timedelta(hours=1), 990),  # 989.6 -> 990
        (FeeClass.expert, 2, Policy(expert_deduction_percent=25), START, 2),  # 1.5 -> 2 (half up)
        (FeeClass.expert, 10000, Policy(expert_deduction_percent=10), START, 9000),
        (FeeClass.expert, 10000, Policy(expert_deduction_percent=30), START, 7000),
        (FeeClass.expert, 10000, Policy(expert_full_refund_hours=2), START - timedelta(hours=2), 10000),
        (FeeClass.special, 30000, BEIJING, START - timedelta(days=7), 30000),
        (FeeClass.special, 30000, BEIJING, START - timedelta(days=7) + timedelta(seconds=1), 15000),
        (FeeClass.special, 30001, BEIJING, START - timedelta(days=1), 15001),  # 15000.5 -> 15001
        (FeeClass.special, 1, BEIJING, START, 1),  # 0.5 -> 1
        (FeeClass.special, 30000, Policy(special_refund_percent=0), START, 0),
        (FeeClass.special, 0, BEIJING, START, 0),
    ],
)
def test_refund_table(fee_class: FeeClass, fee: int, policy: Policy, now: datetime, refund: int) -> None:
    assert refund_cents(policy, slot(START, fee_class, fee), now) == refund


@pytest.mark.parametrize("fee_class", list(FeeClass))
def test_hospital_cancellation_refunds_everything(fee_class: FeeClass) -> None:
    visit = slot(START, fee_class, 12345)
    assert hospital_cancel_terms(visit) == CancelTerms(CancelOutcome.timely, START, 12345, False, None)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        cancel_terms(BEIJING, VISIT, datetime(2024, 3, 11))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        refund_cents(BEIJING, VISIT, datetime(2024, 3, 11))  # noqa: DTZ001
