"""Department age and sex limits (RULES §9): birth date and sex from an ID, whole-year ages, the decision."""

from __future__ import annotations

from datetime import date

import pytest

from rules import DepartmentLimits, Person, age_on, department_allows, id_check_digit, person_from_id


def make_id(born: str, sequence: str) -> str:
    first17 = "110105" + born + sequence
    return first17 + id_check_digit(first17)


@pytest.mark.parametrize(
    ("sequence", "sex"),
    [("001", "male"), ("003", "male"), ("009", "male"), ("000", "female"), ("002", "female"), ("128", "female")],
)
def test_sex_is_the_parity_of_the_17th_digit(sequence: str, sex: str) -> None:
    assert person_from_id(make_id("19920229", sequence)) == Person(date(1992, 2, 29), sex)  # type: ignore[arg-type]


def test_birth_date_from_digits_7_to_14_and_an_x_check_digit() -> None:
    assert person_from_id("11010519491231002X") == Person(date(1949, 12, 31), "female")


@pytest.mark.parametrize("bad", ["", "11010519491231002", "110105194912310021", "110105194902300011"])
def test_no_person_from_an_invalid_id(bad: str) -> None:
    assert person_from_id(bad) is None


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2012, 6, 15), date(2026, 6, 14), 13),  # the day before the birthday
        (date(2012, 6, 15), date(2026, 6, 15), 14),  # on the birthday
        (date(2011, 6, 15), date(2026, 6, 14), 14),
        (date(2011, 6, 15), date(2026, 6, 15), 15),
        (date(2026, 6, 15), date(2026, 6, 15), 0),  # born today
        (date(2012, 12, 31), date(2026, 1, 1), 13),
        (date(2012, 2, 29), date(2026, 2, 28), 13),  # a 29 February birthday in a common year: not yet on the 28th
        (date(2012, 2, 29), date(2026, 3, 1), 14),  # ... but on 1 March
        (date(2012, 2, 29), date(2028, 2, 28), 15),
        (date(2012, 2, 29), date(2028, 2, 29), 16),  # a leap year: on the day itself
        (date(2011, 3, 1), date(2024, 2, 29), 12),  # 29 February comes before 1 March
    ],
)
def test_age_in_whole_years(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age


CHILDREN = DepartmentLimits(age_max=14)
ADULTS = DepartmentLimits(age_min=18)
WOMEN = DepartmentLimits(sex="female")
MEN = DepartmentLimits(sex="male")
VISIT = date(2026, 6, 15)


@pytest.mark.parametrize(
    ("limits", "born", "sex", "rule"),
    [
        (CHILDREN, date(2012, 6, 15), "male", None),  # 14 today: still seen
        (CHILDREN, date(2011, 6, 16), "female", None),  # 14 until tomorrow
        (CHILDREN, date(2011, 6, 15), "male", "department_age"),  # 15 today
        (CHILDREN, date(1992, 1, 1), "male", "department_age"),  # the 34-year-old of the issue
        (ADULTS, date(2008, 6, 15), "female", None),  # 18 today
        (ADULTS, date(2008, 6, 16), "female", "department_age"),  # 17 until tomorrow
        (DepartmentLimits(age_min=0, age_max=0), date(2026, 1, 1), "male", None),
        (WOMEN, date(1992, 1, 1), "female", None),
        (WOMEN, date(1992, 1, 1), "male", "department_sex"),
        (MEN, date(1992, 1, 1), "female", "department_sex"),
        (DepartmentLimits(), date(1930, 1, 1), "male", None),
        (DepartmentLimits(age_max=14, sex="female"), date(2020, 1, 1), "male", "department_sex"),
        (DepartmentLimits(age_max=14, sex="female"), date(1990, 1, 1), "male", "department_age"),  # age first
    ],
)
def test_department_allows(limits: DepartmentLimits, born: date, sex: str, rule: str | None) -> None:
    decision = department_allows(limits, Person(born, sex), VISIT)  # type: ignore[arg-type]
    assert decision.allowed is (rule is None)
    assert decision.rule == rule


def test_refusals_say_the_age_and_the_bound() -> None:
    assert department_allows(CHILDREN, Person(date(1992, 1, 1), "male"), VISIT).detail == (
        "aged 34 on the visit date, at most 14"
    )
    assert department_allows(ADULTS, Person(date(2010, 1, 1), "male"), VISIT).detail == (
        "aged 16 on the visit date, at least 18"
    )


@pytest.mark.parametrize(
    ("limits", "restricted"),
    [(DepartmentLimits(), False), (CHILDREN, True), (ADULTS, True), (WOMEN, True)],
)
def test_restricted(limits: DepartmentLimits, restricted: bool) -> None:
    assert limits.restricted is restricted
