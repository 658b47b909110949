"""取消预约: choose the appointment → its terms, stated before confirming (RULES §4, §6) → Y/N → cancelled.

The question is skipped when the account has a single upcoming appointment, and an 8-digit serial may be typed
instead of choosing. Too late to cancel online → the deadline and whom to contact, then the menu. The terms are
computed again at the confirmation: if they changed meanwhile (e.g. the 24-hour mark of an expert fee passed), they
are stated again rather than applied unseen. Confirmation is Y/N, never a bare CANCEL (an SMS opt-out word).
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from typing import Any

import rules
from bot.audit import patient_actor
from bot.booking import CancelRefused
from bot.errors import InvalidRequestError, NotFoundError
from bot.records import Appointment
from bot.settle import OutcomeUnconfirmed
from dialogs import intents, parse
from dialogs.appointments import (
    department_name,
    hospital_name,
    moment_text,
    patient_label,
    status_text,
    upcoming,
    visit_text,
)
from dialogs.confirm import YesNoFlow, yes_no
from dialogs.machine import Dialog
from dialogs.turn import Turn
from texts.format import money

log = logging.getLogger(__name__)
_SERIAL = re.compile(r"(?:取消|cancel)? ?([0-9]{8})")


class State(StrEnum):
    choose = "choose"
    confirm = "confirm"


def refund_text(turn: Turn, appointment: Appointment, terms: rules.CancelTerms) -> str:
    """``按医院规则可退¥5.00`` or ``按医院规则可退¥40.00(专家号距就诊不足24小时扣20%)``."""
    refund = money(terms.refund_cents, turn.lang)
    if terms.refund_cents >= appointment.fee_cents:
        return turn.t("cancel.refund_full", refund=refund)
    policy = turn.deps.store.policy_for(appointment.hospital)
    if appointment.level == rules.FeeClass.special:
        return turn.t(
            "cancel.refund_special",
            refund=refund,
            days=policy.special_full_refund_days,
            percent=policy.special_refund_percent,
        )
    return turn.t(
        "cancel.refund_expert",
        refund=refund,
        hours=policy.expert_full_refund_hours,
        percent=policy.expert_deduction_percent,
    )


def offer_freed_place(turn: Turn, slot_id: str) -> None:
    """The cancel hook of the waitlist (RULES §10): the place just freed is offered to the slot's first waiter now;
    should that fail, the worker's periodic duty offers it (the place stays freed for the waiters meanwhile)."""
    try:
        turn.deps.waitlist.offer_pending([slot_id])
    except Exception:  # the cancellation is done and said: the offer is the worker's to retry
        log.exception("waitlist offer after a cancellation failed", extra={"slot": slot_id})


class CancelFlow(YesNoFlow):
    """Guards, questions and actions of the cancellation dialog."""

    # --- questions -------------------------------------------------------------------------------------
    def ask_choose(self) -> None:
        found = upcoming(self.turn, self.pids)
        if not found:
            self.say("cancel.none")
            self.turn.switch("menu")
            return
        if len(found) == 1:
            self.turn.data["serial"] = found[0].serial
            self.fire("skip")
            return
        labels = [self.label(a) for a in found]
        self.turn.offer(self.turn.t("cancel.choose"), labels, [a.serial for a in found])

    def ask_confirm(self) -> None:
        """State the terms of the chosen appointment, or why it cannot be cancelled (then back to the menu)."""
        found = self.terms()
        if found is None:
            self.turn.switch("menu")
            return
        appointment, terms = found
        if terms.outcome == rules.CancelOutcome.refused:
            self.refused(appointment, terms)
            return
        turn = self.turn
        turn.data["stated"] = [terms.outcome.value, terms.refund_cents]
        summary = turn.t(
            "cancel.summary",
            serial=appointment.serial,
            patient=patient_label(turn, appointment.patient_name_masked),
            visit=visit_text(turn, appointment, end=False),
            hospital=hospital_name(turn, appointment.hospital),
            department=department_name(turn, appointment.hospital, appointment.department),
        )
        refund = refund_text(turn, appointment, terms)
        if terms.outcome == rules.CancelOutcome.late:
            deadline = moment_text(turn, terms.deadline, appointment.hospital)
            stated = turn.t("cancel.terms_late", deadline=deadline, refund=refund)
        else:
            stated = turn.t("cancel.terms_timely", refund=refund)
        turn.paragraphs.append(f"{summary}\n{stated}\n{turn.t('cancel.ask_confirm')}")

    # --- guards ----------------------------------------------------------------------------------------
    def picked(self) -> bool:
        """An option or a typed serial: remembered when it is one of the account's booked appointments."""
        typed = _SERIAL.fullmatch(self.turn.text)
        if typed is not None:
            return self.accept(typed[1])
        match = self.turn.chosen()
        if match.ok:
            return self.accept(str(match.value))
        if match.kind == parse.MatchKind.AMBIGUOUS:
            self.turn.say_ambiguous(match)
        else:
            self.say("common.not_an_option", text=self.turn.echo)
        return False

    # --- actions ---------------------------------------------------------------------------------------
    @property
    def pids(self) -> list[str]:
        """The patients this account may cancel for (an SMS account includes those of its verified phone)."""
        return self.turn.deps.patients.patient_ids(self.turn.acct)

    def label(self, appointment: Appointment) -> str:
        return self.turn.t(
            "cancel.option",
            visit=visit_text(self.turn, appointment, end=False),
            department=department_name(self.turn, appointment.hospital, appointment.department),
            patient=patient_label(self.turn, appointment.patient_name_masked),
            serial=appointment.serial,
        )

    def accept(self, serial: str) -> bool:
        found = self.terms(serial)
        if found is None:
            return False
        self.turn.data["serial"] = found[0].serial
        return True

    def terms(self, serial: str | None = None) -> tuple[Appointment, rules.CancelTerms] | None:
        """The appointment (``serial``, else the chosen one) and its terms now; None (and why said) when it is not
        the account's or not booked."""
        serial = serial if serial is not None else str(self.turn.data.get("serial", ""))
        try:
            appointment, terms = self.turn.deps.booking.cancel_terms(serial, pids=self.pids)
        except NotFoundError:
            self.say("cancel.not_found", serial=serial)
            return None
        if appointment.status != rules.AppointmentStatus.booked:
            self.say("cancel.not_booked", serial=serial, status=status_text(self.turn, appointment.status))
            return None
        return appointment, terms

    def refused(self, appointment: Appointment, terms: rules.CancelTerms) -> None:
        """Too late to cancel online: the deadline (or that the visit started), whom to contact; back to the menu."""
        turn = self.turn
        hospital = turn.deps.config.hospital(appointment.hospital)
        phone = turn.t("cancel.hospital_phone", phone=hospital.phone) if hospital and hospital.phone else ""
        where = hospital_name(turn, appointment.hospital)
        if terms.rule == "slot_started":
            self.say("cancel.started", serial=appointment.serial, hospital=where, phone=phone)
        else:
            deadline = moment_text(turn, terms.deadline, appointment.hospital)
            self.say("cancel.too_late", serial=appointment.serial, deadline=deadline, hospital=where, phone=phone)
        turn.switch("menu")

    def cancel_now(self) -> None:
        turn = self.turn
        found = self.terms()
        if found is None:
            turn.switch("menu")
            return
        appointment, terms = found
        if terms.outcome != rules.CancelOutcome.refused and turn.data.get("stated") != [
            terms.outcome.value,
            terms.refund_cents,
        ]:
            self.say("cancel.terms_changed")
            self.ask_confirm()
            return
        try:
            cancelled, applied = turn.deps.booking.cancel(
                appointment.serial, patient_actor(turn.channel.value), pids=self.pids
            )
        except OutcomeUnconfirmed as pending:  # the replicas did not confirm it: the outcome follows (SPEC §7)
            turn.deps.booking.settlements.defer(pending, turn.inbound.user, turn.channel.value)
            self.say("settle.cancel_pending", serial=pending.appointment.serial)
            turn.switch("menu")
            return
        except CancelRefused as too_late:
            self.say("cancel.passed_meanwhile")
            self.refused(appointment, too_late.terms)
            return
        except (NotFoundError, InvalidRequestError):  # cancelled or removed by someone else meanwhile
            if self.terms() is not None:
                self.say("common.busy")
            turn.switch("menu")
            return
        turn.deps.reminders.on_cancelled(cancelled.serial)
        offer_freed_place(turn, cancelled.slot)
        key = "cancel.done_late" if applied.violation else "cancel.done"
        self.say(key, serial=cancelled.serial, refund=refund_text(turn, appointment, applied))
        turn.switch("menu")

    def keep(self) -> None:
        self.say("cancel.kept", serial=str(self.turn.data.get("serial", "")))
        self.turn.switch("menu")

    def said_yes(self) -> bool:
        """Y, or the question's own words typed back (``确认取消``, ``确认取消预约<serial>``)."""
        return super().said_yes() or intents.confirms_cancel(self.turn.text, str(self.turn.data.get("serial", "")))

    def ask_yes_no(self) -> None:
        if intents.declines_booking(self.turn.text):  # 取消, 取消预约, 不要了: either answer; asked, never guessed
            self.say("cancel.which_way", text=self.turn.echo, serial=str(self.turn.data.get("serial", "")))
        else:
            self.say("common.yes_no", text=self.turn.echo)


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "skip", "source": State.choose, "dest": State.confirm},
    {"trigger": "answer", "source": State.choose, "dest": State.confirm, "conditions": "picked"},
    {"trigger": "answer", "source": State.choose, "dest": None},
    *yes_no(State.confirm, yes="cancel_now", no="keep"),
]


class CancelDialog(Dialog):
    """取消预约."""

    name = "cancel"
    states = State
    transitions = TRANSITIONS
    flow = CancelFlow


def start_with_serial(turn: Turn, serial: str) -> None:
    """Go straight to the terms of ``serial`` (the SMS one-shot ``取消 <serial>``), then ask Y/N as usual."""
    turn.session.data = {k: v for k, v in turn.data.items() if k.startswith("keep.")}
    turn.data["serial"] = serial.strip()
    CancelDialog().start(turn, State.confirm)
