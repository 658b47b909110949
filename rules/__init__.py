"""guahao booking rules: pure policy decisions, standard library only, time always passed in.

Other packages import only from ``rules``. Public API:

Policy and presets
    Policy                 frozen dataclass of every tunable (defaults = beijing-114)
    PolicyError            bad preset/override; ``key``, ``expected``, ``got``; str "key: expected X, got Y"
    PRESETS                name -> Policy ("beijing-114", "changshu")
    DEFAULT_PRESET         "beijing-114"
    build_policy           preset (or base) + config overrides -> validated Policy
    policy_keys            names accepted as overrides

Identity and personal data
    IdCheck                result of validate_id_number (valid, reason, normalized, birth_date)
    validate_id_number     18-char resident ID: shape, birth date, ISO 7064 mod 11-2 check digit
    id_check_digit         check character for the first 17 digits
    normalize_mobile       mainland mobile -> E.164 "+86...", or None
    mask_id / mask_phone / mask_name   shown forms of personal data
    mask_personal          any text with every ID-like and phone-like run masked (echoes, logs)
    Person, person_from_id birth date and sex from an ID number (RULES §9); age_on: whole years on a date

Departments
    DepartmentLimits       optional age_min / age_max / sex of a department
    department_allows      may this person see this department on the visit date (department_age/_sex)

Facts and decisions
    FeeClass, AppointmentStatus        StrEnums stored as readable strings
    SlotFacts, AppointmentFacts, NoShowFacts   frozen inputs (aware datetimes)
    Decision               allowed, rule (stable code), retry_after, detail

Rules
    booking_window / release_at / check_window   which visit dates may be booked now
    check_limits           per-patient limits (same day/department, 7 days, 3 months, once-per variants)
    CancelOutcome, CancelTerms, cancel_deadline, cancel_terms, hospital_cancel_terms, refund_cents
    Standing, compute_standing, check_standing, add_months   no-shows, suspensions, abuse flags
    ReminderKind, reminder_times                 when each reminder is due
    check_booking          standing, then window, then limits: the whole "may this patient book this slot?"
    waiting_ends, waiting_open, hold_until, check_join, check_claim   the waitlist (候补, RULES §10)
    FeeDifference, check_movable, check_reschedule, fee_difference, others   rescheduling (改约, RULES §11)

Release rush (lottery)
    lottery_window / in_lottery_window   when requests for a day are entries of its draw
    LotteryEntry, screen   anti-scalping: who is entered (one entry per patient per slot, account/phone caps, flags)
    entrant_hash, draw_order             the audited, reproducible order of a seed
    LotteryFacts, LotteryOutcome, allocate   places in draw order, limits applied in that order

Rule codes of refusals: window_past, window_too_far, window_too_early, slot_started, already_booked,
limit_same_day_department, limit_same_day, once_per_department, once_per_doctor, limit_7_days,
limit_3_months, suspended, flagged, department_age, department_sex, lottery_account_limit, lottery_phone_limit,
waitlist_closed, waitlist_already, waitlist_max, offer_expired, reschedule_not_booked, reschedule_deadline_passed,
reschedule_same_slot (and cancel_deadline_passed / slot_started in CancelTerms.rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .cancellation import (
    CancelOutcome,
    CancelTerms,
    cancel_deadline,
    cancel_terms,
    hospital_cancel_terms,
    refund_cents,
)
from .dates import local_date, require_aware
from .eligibility import DepartmentLimits, Person, age_on, department_allows, person_from_id
from .identity import (
    IdCheck,
    id_check_digit,
    mask_id,
    mask_name,
    mask_personal,
    mask_phone,
    normalize_mobile,
    validate_id_number,
)
from .limits import check_limits
from .lottery import Entry as LotteryEntry
from .lottery import Facts as LotteryFacts
from .lottery import Outcome as LotteryOutcome
from .lottery import allocate, draw_order, entrant_hash, in_lottery_window, lottery_window, screen
from .model import (
    AppointmentFacts,
    AppointmentStatus,
    Decision,
    FeeClass,
    NoShowFacts,
    SlotFacts,
)
from .policy import DEFAULT_PRESET, PRESETS, Policy, PolicyError, build_policy, policy_keys
from .reminders import ReminderKind, reminder_times
from .reschedule import FeeDifference, check_movable, check_reschedule, fee_difference, others
from .standing import Standing, add_months, check_standing, compute_standing
from .waitlist import check_claim, check_join, hold_until, waiting_ends, waiting_open
from .window import booking_window, check_window, release_at

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "AppointmentFacts",
    "AppointmentStatus",
    "CancelOutcome",
    "CancelTerms",
    "Decision",
    "DepartmentLimits",
    "FeeClass",
    "FeeDifference",
    "IdCheck",
    "LotteryEntry",
    "LotteryFacts",
    "LotteryOutcome",
    "NoShowFacts",
    "Person",
    "Policy",
    "PolicyError",
    "ReminderKind",
    "SlotFacts",
    "Standing",
    "add_months",
    "allocate",
    "age_on",
    "booking_window",
    "build_policy",
    "cancel_deadline",
    "cancel_terms",
    "check_booking",
    "check_claim",
    "check_join",
    "check_movable",
    "check_reschedule",
    "check_limits",
    "check_standing",
    "check_window",
    "compute_standing",
    "department_allows",
    "draw_order",
    "entrant_hash",
    "fee_difference",
    "hold_until",
    "hospital_cancel_terms",
    "id_check_digit",
    "in_lottery_window",
    "lottery_window",
    "mask_id",
    "mask_name",
    "mask_personal",
    "mask_phone",
    "normalize_mobile",
    "others",
    "person_from_id",
    "policy_keys",
    "refund_cents",
    "release_at",
    "reminder_times",
    "screen",
    "validate_id_number",
    "waiting_ends",
    "waiting_open",
]


def check_booking(
    policy: Policy,
    existing: Sequence[AppointmentFacts],
    slot: SlotFacts,
    standing: Standing,
    now: datetime,
) -> Decision:
    """May this patient book `slot` at `now`? Standing, then window, then the slot's start, then limits."""
    require_aware("now", now)
    decision = check_standing(standing, now, policy.tz)
    if not decision.allowed:
        return decision
    decision = check_window(policy, local_date(slot.start, policy.tz), now)
    if not decision.allowed:
        return decision
    if now >= slot.start:
        return Decision.refuse("slot_started", detail="the slot has already started")
    return check_limits(policy, existing, slot, now)
