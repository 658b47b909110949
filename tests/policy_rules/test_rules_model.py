"""Frozen facts and decisions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import pytest

from rules import AppointmentFacts, AppointmentStatus, Decision, FeeClass, NoShowFacts, SlotFacts

START = datetime(2024, 3, 12, 9, tzinfo=UTC)


def make_slot(start: datetime = START, end: datetime | None = None, fee: int = 500) -> SlotFacts:
    return SlotFacts("H", "D", "Dr", FeeClass.expert, fee, start, end or start + timedelta(minutes=30))


class NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as good as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_enums_are_readable_strings() -> None:
    assert [str(c) for c in FeeClass] == ["general", "expert", "special"]
    assert AppointmentStatus("no_show_waived") is AppointmentStatus.no_show_waived
    assert f"{AppointmentStatus.cancelled_late}" == "cancelled_late"


@pytest.mark.parametrize(
    ("status", "cancelled"),
    [
        (AppointmentStatus.booked, False),
        (AppointmentStatus.cancelled, True),
        (AppointmentStatus.cancelled_late, True),
        (AppointmentStatus.cancelled_by_hospital, True),
        (AppointmentStatus.attended, False),
        (AppointmentStatus.no_show, False),
        (AppointmentStatus.no_show_waived, False),
    ],
)
def test_is_cancelled(status: AppointmentStatus, cancelled: bool) -> None:
    assert status.is_cancelled is cancelled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2024, 3, 12, 9)}, "start must be an aware datetime"),  # noqa: DTZ001
        ({"start": datetime(2024, 3, 12, 9, tzinfo=NoOffset())}, "start must be an aware datetime"),
        ({"end": datetime(2024, 3, 12, 9, 30)}, "end must be an aware datetime"),  # noqa: DTZ001
        ({"end": START}, "must be after its start"),
        ({"end": START - timedelta(minutes=1)}, "must be after its start"),
        ({"fee": -1}, "fee_cents must not be negative"),
    ],
)
def test_slot_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_slot(**kwargs)  # type: ignore[arg-type]


def test_same_place_and_time() -> None:
    slot = make_slot()
    assert slot.same_place_and_time(make_slot(end=START + timedelta(hours=1), fee=900))
    assert slot.same_place_and_time(make_slot(START.astimezone(timezone(timedelta(hours=8)))))
    assert not slot.same_place_and_time(make_slot(START + timedelta(minutes=30)))
    assert not slot.same_place_and_time(dataclasses.replace(slot, doctor="Other"))


def test_appointment_needs_an_aware_booking_time() -> None:
    with pytest.raises(ValueError, match="booked_at must be an aware datetime"):
        AppointmentFacts("12345678", make_slot(), AppointmentStatus.booked, datetime(2024, 3, 1))  # noqa: DTZ001
    assert AppointmentFacts("12345678", make_slot(), AppointmentStatus.booked, START).serial == "12345678"


def test_facts_are_frozen() -> None:
    fact = NoShowFacts("12345678", date(2024, 3, 1))
    assert fact.waived is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.waived = True  # type: ignore[misc]


def test_decisions() -> None:
    assert Decision.ok() == Decision(True, None, None, None)
    refused = Decision.refuse("limit_same_day", START, "why")
    assert (refused.allowed, refused.rule, refused.retry_after, refused.detail) == (
        False,
        "limit_same_day",
        START,
        "why",
    )
    assert Decision.refuse("flagged") == Decision(False, "flagged")
