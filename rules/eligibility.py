"""Who a department sees (RULES §9): birth date and sex from a resident ID, age on the visit date, the decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from .identity import validate_id_number
from .model import Decision

Sex = Literal["female", "male"]


@dataclass(frozen=True)
class Person:
    """What the department rules need of a patient: never the ID number itself."""

    birth_date: date
    sex: Sex


@dataclass(frozen=True)
class DepartmentLimits:
    """Who a department sees: ages (whole years on the visit date, bounds included) and a sex; None = anyone."""

    age_min: int | None = None
    age_max: int | None = None
    sex: Sex | None = None

    @property
    def restricted(self) -> bool:
        """Whether any limit is set (so the patient's birth date and sex are needed at all)."""
        return self.age_min is not None or self.age_max is not None or self.sex is not None


def person_from_id(id_number: str) -> Person | None:
    """Birth date (digits 7–14) and sex (digit 17: odd male, even female) of a valid ID number, else None."""
    check = validate_id_number(id_number)
    if not check.valid or check.normalized is None or check.birth_date is None:
        return None
    return Person(check.birth_date, "male" if int(check.normalized[16]) % 2 else "female")


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day``; born on 29 February, one is a year older on 1 March in common years."""
    # Comparing (month, day) pairs puts 29 Feb after 28 Feb and before 1 Mar: no special case needed.
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def department_allows(limits: DepartmentLimits, person: Person, visit: date) -> Decision:
    """May ``person`` see this department on ``visit``? Refuses with rule department_age or department_sex."""
    age = age_on(person.birth_date, visit)
    if limits.age_min is not None and age < limits.age_min:
        return Decision.refuse("department_age", detail=f"aged {age} on the visit date, at least {limits.age_min}")
    if limits.age_max is not None and age > limits.age_max:
        return Decision.refuse("department_age", detail=f"aged {age} on the visit date, at most {limits.age_max}")
    if limits.sex is not None and person.sex != limits.sex:
        return Decision.refuse("department_sex", detail=f"this department sees {limits.sex} patients only")
    return Decision.ok()
