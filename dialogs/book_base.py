"""What the booking dialog knows and how it writes it: the chosen hospital and department, dates, slots, refusals.

The base of the booking flow (``dialogs.book``): reads of the schedule inside the booking window, the calendar and
money formats of a conversation, and how a refusal of the booking rules is said (which rule, until when, what next).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import rules
from bot.config import Department
from bot.records import Appointment, Slot, local_moment
from dialogs.appointments import department_name, doctor_name, hospital_name, patient_label
from dialogs.machine import Flow
from dialogs.message import Channel
from texts import CATALOG
from texts import format as words

LIMITS = frozenset({"limit_same_day_department", "limit_same_day", "limit_7_days", "limit_3_months"})
"""Rule codes that are also the name of the policy number they enforce."""
SHORT_WINDOW_DAYS = 31
"""A booking window up to this long is read from each day's slot index at once (one pipeline), not through the
hospital's stored dates first: one round trip fewer per question of the booking dialog."""


class BookBase(Flow):
    """What is known so far, formats, reads and refusals of the booking dialog."""

    # --- what is known so far --------------------------------------------------------------------------
    @property
    def hospital(self) -> str:
        return str(self.turn.data["hospital"])

    @property
    def department(self) -> str:
        return str(self.turn.data["department"])

    @property
    def policy(self) -> rules.Policy:
        """The chosen hospital's policy; the platform's until a hospital is chosen."""
        if "hospital" in self.turn.data:
            return self.turn.deps.store.policy_for(self.hospital)
        return self.turn.deps.config.policy

    def hospital_name(self) -> str:
        return hospital_name(self.turn, self.hospital)

    def department_name(self, department: str | None = None) -> str:
        return department_name(self.turn, self.hospital, department or self.department)

    def doctor_name(self, held: Slot | Appointment) -> str:
        return doctor_name(self.turn, held)

    def patient_name(self) -> str:
        found = self.turn.deps.patients.get(str(self.turn.data["pid"]))
        return patient_label(self.turn, found.name_masked) if found else ""

    # --- formatting ------------------------------------------------------------------------------------
    @property
    def sms(self) -> str:
        """Suffix of the compact variant of a text: four slots per SMS page must fit two segments."""
        return "_sms" if self.turn.channel == Channel.sms else ""

    def day(self, day: date) -> str:
        """``11月24日`` / ``24 Nov``."""
        return words.day(day, self.turn.lang, weekday=False)

    def day_with_weekday(self, day: date) -> str:
        """``11月24日 周二`` / ``Tue 24 Nov``."""
        return words.day(day, self.turn.lang)

    def long_day(self, day: date) -> str:
        """``2027年2月25日`` / ``25 Feb 2027``."""
        return words.day(day, self.turn.lang, weekday=False, year=True)

    def moment(self, when: datetime) -> str:
        """``11月23日 周一 15:00`` / ``Mon 23 Nov 15:00`` in the hospital's time (with the year when not this one)."""
        local = when.astimezone(self.policy.tz)
        return words.moment(local, self.turn.lang, year=local.year != self.turn.today().year)

    def level(self, slot: Slot | Appointment) -> str:
        return self.turn.t(f"book.level_{slot.level.value}")

    def slot_label(self, slot: Slot) -> str:
        places = self.turn.t("book.places_left", n=slot.places_left) if slot.places_left else self.turn.t("book.full")
        return self.turn.t(
            f"book.slot_label{self.sms}",
            doctor=self.doctor_name(slot),
            start=slot.start,
            end=slot.end,
            level=self.level(slot),
            fee=words.money(slot.fee_cents, self.turn.lang),
            places=places,
        )

    def deadline_line(self, facts: rules.SlotFacts, *, only_if_passed: bool = False) -> str | None:
        """When free cancellation ends, or that it has ended and what cancelling now means."""
        deadline = rules.cancel_deadline(self.policy, facts)
        shown = self.moment(deadline)
        if self.turn.now < deadline:
            return None if only_if_passed else self.turn.t("book.cancel_until", deadline=shown)
        if self.policy.late_cancel == "allow_with_violation" and self.turn.now < facts.start:
            return self.turn.t("book.cancel_with_violation", deadline=shown)
        return self.turn.t("book.cancel_closed", deadline=shown)

    # --- reads -----------------------------------------------------------------------------------------
    def every_window_day(self, hospital: str) -> list[date] | None:
        """Every day of the hospital's booking window now, when it is short enough (:data:`SHORT_WINDOW_DAYS`) to
        ask the slot indexes of each day at once rather than the hospital's stored dates first; else None."""
        first, last = rules.booking_window(self.turn.deps.store.policy_for(hospital), self.turn.now)
        span = (last - first).days + 1
        return [first + timedelta(days=n) for n in range(max(span, 0))] if span <= SHORT_WINDOW_DAYS else None

    def bookable_departments(self) -> list[Department]:
        """The chosen hospital's departments with slots in the booking window now, in the configured order."""
        configured = self.turn.deps.schedule.hospital(self.hospital)
        window = [day.isoformat() for day in self.every_window_day(self.hospital) or self.window_dates(self.hospital)]
        found = set(self.turn.deps.schedule.departments_within(self.hospital, window))
        return [d for d in (configured.departments if configured else ()) if d.id in found]

    def window_dates(self, hospital: str, department: str | None = None) -> list[date]:
        """Dates with slots of the hospital (or department) inside the booking window now."""
        every = self.every_window_day(hospital) if department is not None else None
        if every is not None and department is not None:  # a department's: its slots, read once for the step
            read = self.read_slots(every, hospital, department)
            return [day for day in every if read[day]]
        first, last = rules.booking_window(self.turn.deps.store.policy_for(hospital), self.turn.now)
        days = (date.fromisoformat(d) for d in self.turn.deps.schedule.dates(hospital, department))
        return [d for d in days if first <= d <= last]

    def open_slots(self, day: date) -> list[Slot]:
        """The department's slots on ``day`` that have not started yet (read once per message: see
        :meth:`read_slots`)."""
        tz = self.policy.tz
        read = self.read_slots([day])[day]
        return [s for s in read if local_moment(s.date, s.start, tz) > self.turn.now]

    def read_slots(
        self, days: list[date], hospital: str | None = None, department: str | None = None
    ) -> dict[date, list[Slot]]:
        """The slots of the department (the chosen one unless given) on ``days``, in two round trips for those not
        read yet, kept for the rest of this message's step (a step that lists a week's dates, then checks the one
        chosen, reads each day once). A booking refusal forgets them (:meth:`forget_reads`): the places it was
        refused for are read again."""
        hospital, department = hospital or self.hospital, department or self.department
        memo = self._slots_read
        missing = [day for day in days if (hospital, department, day) not in memo]
        if missing:
            found = self.turn.deps.schedule.slots_on(hospital, department, [d.isoformat() for d in missing])
            memo.update({(hospital, department, day): found[day.isoformat()] for day in missing})
        return {day: memo[hospital, department, day] for day in days}

    @property
    def _slots_read(self) -> dict[tuple[str, str, date], list[Slot]]:
        memo: dict[tuple[str, str, date], list[Slot]] | None = self.__dict__.get("_slots_memo")
        if memo is None:
            memo = self.__dict__["_slots_memo"] = {}
        return memo

    def forget_reads(self) -> None:
        """Forget the slots read in this step (after a booking changed or refused them)."""
        self.__dict__.pop("_slots_memo", None)
        self.__dict__.pop("_slot_memo", None)

    def slot_of(self, slot_id: str) -> Slot | None:
        """The stored slot ``slot_id``, read once per message's step (the slot chosen, then its confirmation)."""
        memo: dict[str, Slot | None] = self.__dict__.setdefault("_slot_memo", {})
        if slot_id not in memo:
            memo[slot_id] = self.turn.deps.schedule.slot(slot_id)
        return memo[slot_id]

    def chosen_slot(self) -> Slot | None:
        return self.slot_of(str(self.turn.data["slot"]))

    def _department_refusal(self, rule: str, values: dict[str, Any]) -> str:
        """The text key of a department age or sex refusal (RULES §9), its bounds put into ``values``."""
        found = self.turn.deps.schedule.department(self.hospital, self.department)
        limits = found.limits if found is not None else rules.DepartmentLimits()
        if rule == "department_sex":
            return f"book.refused_department_sex_{limits.sex}" if limits.sex else "book.refused"
        values.update(min=limits.age_min, max=limits.age_max)
        return f"book.refused_department_age_{_age_bound(limits)}"

    def department_refusal(self, department: str) -> rules.Decision:
        """Whether the patient is outside whom ``department`` sees on every bookable date (so say it at once)."""
        found = self.turn.deps.schedule.department(self.hospital, department)
        if found is None or not found.limits.restricted:
            return rules.Decision.ok()
        person = self.turn.deps.patients.person_of(str(self.turn.data["pid"]))
        first, last = rules.booking_window(self.policy, self.turn.now)
        # ages only grow: refused on the first and on the last bookable date means refused on every one
        decisions = [rules.department_allows(found.limits, person, day) for day in (first, last)]
        return decisions[0] if not decisions[0].allowed and not decisions[1].allowed else rules.Decision.ok()

    def department_refuses_on(self, day: date) -> bool:
        """Whether the chosen department does not see the patient on ``day`` (RULES §9: ages count on the visit date,
        so a child turning 15 can see 儿科 before the birthday, not after); when so, said with the day, and that
        another date is the way (the department itself sees them on other dates, or it would have been refused)."""
        found = self.turn.deps.schedule.department(self.hospital, self.department)
        if found is None or not found.limits.restricted:
            return False
        person = self.turn.deps.patients.person_of(str(self.turn.data["pid"]))
        decision = rules.department_allows(found.limits, person, day)
        if decision.allowed:
            return False
        limits = found.limits
        if decision.rule == "department_sex":  # the same on every day: said as at the department question
            self.say_refusal(decision, day=day)
            return True
        limit = self.turn.t(f"book.age_{_age_bound(limits)}", min=limits.age_min, max=limits.age_max)
        self.say(
            "book.refused_department_age_day",
            department=self.department_name(),
            limit=limit,
            patient=self.patient_name(),
            day=self.day(day),
        )
        return True

    def say_refusal(
        self, decision: rules.Decision, *, day: date | None = None, standing: rules.Standing | None = None
    ) -> None:
        """Say which rule refused, until when, and what the user can do (numbers from the policy)."""
        turn = self.turn
        rule = decision.rule or "busy"
        key = f"book.refused_{rule}" if f"book.refused_{rule}" in CATALOG else "book.refused"
        values: dict[str, Any] = {"rule": rule, "days": self.policy.booking_days_ahead}
        if rule in ("department_age", "department_sex"):
            key = self._department_refusal(rule, values)
        if "pid" in turn.data:
            values["patient"] = self.patient_name()
        if "department" in turn.data:
            values["department"] = self.department_name()
        if day is None and "date" in turn.data:
            day = date.fromisoformat(str(turn.data["date"]))
        if day is not None:
            values["day"] = self.day(day)
        if decision.retry_after is not None:
            values["retry"] = values["opens"] = self.moment(decision.retry_after)
        if rule in LIMITS:
            values["n"] = getattr(self.policy, rule)
        if rule == "window_past":
            first, last = rules.booking_window(self.policy, turn.now)
            values.update(first=self.day(first), last=self.day(last))
        if rule == "window_too_far":
            values["release"] = self.policy.release_time
        if rule in ("suspended", "flagged"):
            standing = standing or turn.deps.standing.standing(str(turn.data["pid"]))
            if standing.suspended_until is not None:  # the last day suspended: booking works again the day after
                values["until"] = self.long_day(standing.suspended_until + timedelta(days=1))
        try:
            turn.say(key, **values)
        except KeyError:  # a value this refusal did not come with: still name the rule
            turn.say("book.refused", **values)


def _age_bound(limits: rules.DepartmentLimits) -> str:
    """Which of a department's age bounds are set: ``max``, ``min`` or ``range`` (the text keys' endings)."""
    if limits.age_min is None:
        return "max"
    return "min" if limits.age_max is None else "range"
