"""No-shows, suspensions, waivers and abuse flags."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from rules import (
    Decision,
    NoShowFacts,
    Policy,
    Standing,
    add_months,
    build_policy,
    check_standing,
    compute_standing,
)

TZ = ZoneInfo("Asia/Shanghai")
BEIJING = build_policy()
CHANGSHU = build_policy("changshu")
ROLLING = build_policy(overrides={"no_show_window": "rolling_month", "no_show_tiers": [[3, 6]]})


def on(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=TZ)


def no_shows(*dates: date, waived: tuple[date, ...] = ()) -> list[NoShowFacts]:
    return [NoShowFacts(f"N{i}", d, d in waived) for i, d in enumerate(dates)]


D = date


@pytest.mark.parametrize(
    ("policy", "dates", "today", "standing"),
    [
        (BEIJING, [], D(2024, 5, 10), Standing(0, None, None)),
        (BEIJING, [D(2024, 1, 5), D(2024, 3, 1)], D(2024, 5, 10), Standing(2, None, None)),
        # the 3rd no-show: 3 months from its date, last day inclusive
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10)],
            D(2024, 5, 10),
            Standing(3, D(2024, 8, 9), "no_show"),
        ),
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10)],
            D(2024, 8, 9),
            Standing(3, D(2024, 8, 9), "no_show"),
        ),
        (BEIJING, [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10)], D(2024, 8, 10), Standing(3, None, None)),
        # order of the input does not matter
        (
            BEIJING,
            [D(2024, 5, 10), D(2024, 1, 5), D(2024, 3, 1)],
            D(2024, 6, 1),
            Standing(3, D(2024, 8, 9), "no_show"),
        ),
        # the 4th and 5th do not extend; the 6th suspends 6 months
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10), D(2024, 5, 12), D(2024, 5, 13)],
            D(2024, 8, 10),
            Standing(5, None, None),
        ),
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10), D(2024, 5, 12), D(2024, 5, 13), D(2024, 9, 1)],
            D(2024, 9, 1),
            Standing(6, D(2025, 2, 28), "no_show"),
        ),
        # the latest-ending suspension covering today wins while both are in force
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10), D(2024, 5, 12), D(2024, 5, 13), D(2024, 6, 1)],
            D(2024, 7, 1),
            Standing(6, D(2024, 11, 30), "no_show"),
        ),
        # a 6-month suspension in force across New Year; the count restarts at 0
        (
            BEIJING,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10), D(2024, 5, 12), D(2024, 5, 13), D(2024, 9, 1)],
            D(2025, 1, 15),
            Standing(0, D(2025, 2, 28), "no_show"),
        ),
        # December to March
        (
            BEIJING,
            [D(2023, 6, 1), D(2023, 9, 1), D(2023, 12, 15)],
            D(2023, 12, 31),
            Standing(3, D(2024, 3, 14), "no_show"),
        ),
        (
            BEIJING,
            [D(2023, 6, 1), D(2023, 9, 1), D(2023, 12, 15)],
            D(2024, 1, 1),
            Standing(0, D(2024, 3, 14), "no_show"),
        ),
        (
            BEIJING,
            [D(2023, 6, 1), D(2023, 9, 1), D(2023, 12, 15)],
            D(2024, 3, 14),
            Standing(0, D(2024, 3, 14), "no_show"),
        ),
        (BEIJING, [D(2023, 6, 1), D(2023, 9, 1), D(2023, 12, 15)], D(2024, 3, 15), Standing(0, None, None)),
        # counted per calendar year: 2 in one year + 1 in the next is no suspension
        (BEIJING, [D(2023, 11, 1), D(2023, 12, 1), D(2024, 1, 10)], D(2024, 1, 10), Standing(1, None, None)),
        # a no-show dated after today (clock skew) does not suspend yet
        (BEIJING, [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10)], D(2024, 5, 9), Standing(3, None, None)),
        # changshu: only 3 -> 3 months
        (
            CHANGSHU,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10), D(2024, 5, 12), D(2024, 5, 13), D(2024, 9, 1)],
            D(2024, 9, 1),
            Standing(6, None, None),
        ),
        (
            CHANGSHU,
            [D(2024, 1, 5), D(2024, 3, 1), D(2024, 5, 10)],
            D(2024, 5, 11),
            Standing(3, D(2024, 8, 9), "no_show"),
        ),
        # rolling_month: 3 within one month -> 6 months
        (
            ROLLING,
            [D(2024, 1, 5), D(2024, 1, 20), D(2024, 2, 4)],
            D(2024, 2, 4),
            Standing(3, D(2024, 8, 3), "no_show"),
        ),
        (ROLLING, [D(2024, 1, 5), D(2024, 1, 20), D(2024, 2, 5)], D(2024, 2, 5), Standing(3, None, None)),
        (
            ROLLING,
            [D(2024, 1, 5), D(2024, 1, 5), D(2024, 1, 5)],
            D(2024, 1, 6),
            Standing(3, D(2024, 7, 4), "no_show"),
        ),
        (
            ROLLING,
            [D(2023, 12, 20), D(2023, 12, 28), D(2024, 1, 10)],
            D(2024, 1, 10),
            Standing(1, D(2024, 7, 9), "no_show"),
        ),
        (
            ROLLING,
            [D(2024, 1, 5), D(2024, 1, 20), D(2024, 3, 1), D(2024, 3, 10)],
            D(2024, 3, 10),
            Standing(4, None, None),
        ),
    ],
)
def test_compute_standing(policy: Policy, dates: list[date], today: date, standing: Standing) -> None:
    assert compute_standing(policy, no_shows(*dates), on(today)) == standing


THREE = (D(2024, 5, 1), D(2024, 5, 10), D(2024, 5, 20))


@pytest.mark.parametrize(
    ("dates", "waived", "standing"),
    [
        (THREE, (), Standing(3, D(2024, 8, 19), "no_show")),
        (THREE, (D(2024, 5, 20),), Standing(2, None, None)),
        (THREE, (D(2024, 5, 1),), Standing(2, None, None)),
        # with a 4th no-show, waiving one moves the trigger to the 4th and its later date
        ((*THREE, D(2024, 6, 1)), (D(2024, 5, 10),), Standing(3, D(2024, 8, 31), "no_show")),
    ],
)
def test_waivers_are_recomputed(dates: tuple[date, ...], waived: tuple[date, ...], standing: Standing) -> None:
    assert compute_standing(BEIJING, no_shows(*dates, waived=waived), on(D(2024, 6, 2))) == standing


@pytest.mark.parametrize(
    ("dates", "flagged_until", "standing"),
    [
        ((), D(2024, 12, 31), Standing(0, D(2024, 12, 31), "flagged")),
        ((), D(2024, 6, 2), Standing(0, D(2024, 6, 2), "flagged")),
        ((), D(2024, 6, 1), Standing(0, None, None)),  # flag already over
        (THREE, D(2024, 12, 31), Standing(3, D(2024, 12, 31), "flagged")),
        (THREE, D(2024, 8, 19), Standing(3, D(2024, 8, 19), "no_show")),
        (THREE, D(2024, 7, 1), Standing(3, D(2024, 8, 19), "no_show")),
        ((), date.max, Standing(0, date.max, "flagged")),
    ],
)
def test_flags(dates: tuple[date, ...], flagged_until: date, standing: Standing) -> None:
    assert compute_standing(BEIJING, no_shows(*dates), on(D(2024, 6, 2)), flagged_until=flagged_until) == standing


def test_standing_uses_the_local_date() -> None:
    # 2023-12-31 17:00 UTC is already 1 January 2024 in Beijing: this year's count restarts.
    now = datetime(2023, 12, 31, 17, tzinfo=UTC)
    assert compute_standing(BEIJING, no_shows(D(2023, 12, 1)), now).no_shows_this_year == 0


@pytest.mark.parametrize(
    ("standing", "now", "decision"),
    [
        (Standing(0, None, None), on(D(2024, 6, 2)), Decision.ok()),
        (Standing(3, D(2024, 6, 1), "no_show"), on(D(2024, 6, 2)), Decision.ok()),
        (
            Standing(3, D(2024, 6, 2), "no_show"),
            on(D(2024, 6, 2), 23),
            Decision(False, "suspended", on(D(2024, 6, 3), 0), "suspended for no-shows until 2024-06-02"),
        ),
        (
            Standing(0, D(2024, 12, 31), "flagged"),
            on(D(2024, 6, 2)),
            Decision(False, "flagged", None, "booking rights withdrawn until 2024-12-31"),
        ),
        (
            Standing(0, date.max, "flagged"),
            on(D(2024, 6, 2)),
            Decision(False, "flagged", None, "booking rights withdrawn until 9999-12-31"),
        ),
    ],
)
def test_check_standing(standing: Standing, now: datetime, decision: Decision) -> None:
    assert check_standing(standing, now) == decision


def test_check_standing_reads_dates_in_the_given_zone() -> None:
    standing = Standing(3, D(2024, 3, 14), "no_show")
    now = datetime(2024, 3, 14, 17, tzinfo=UTC)  # 01:00 on the 15th in Beijing
    assert check_standing(standing, now, TZ) == Decision.ok()
    refused = check_standing(standing, now)
    assert (refused.rule, refused.retry_after) == ("suspended", datetime(2024, 3, 15, tzinfo=UTC))


@pytest.mark.parametrize(
    ("start", "months", "result"),
    [
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2023, 1, 31), 1, D(2023, 2, 28)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
        (D(2024, 12, 15), 3, D(2025, 3, 15)),
        (D(2024, 1, 15), -13, D(2022, 12, 15)),
        (D(2024, 5, 10), 0, D(2024, 5, 10)),
        (D(2024, 8, 31), 6, D(2025, 2, 28)),
    ],
)
def test_add_months(start: date, months: int, result: date) -> None:
    assert add_months(start, months) == result


def test_add_months_keeps_time_and_zone() -> None:
    moment = datetime(2024, 1, 31, 18, 45, tzinfo=TZ)
    assert add_months(moment, 1) == datetime(2024, 2, 29, 18, 45, tzinfo=TZ)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        compute_standing(BEIJING, [], datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        check_standing(Standing(0, None, None), datetime(2024, 1, 1))  # noqa: DTZ001
