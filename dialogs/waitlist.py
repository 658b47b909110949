"""候补 (waitlist, SPEC §8): join a full slot from the booking dialog, list one's entries, leave one, and claim a held
place with ``Y`` wherever the patient is in the conversation.

The booking dialog hands a full slot over (the chosen slot full, or every slot of the day full: the slots are shown to
choose one) by switching here with ``keep.waitlist`` (its choices, to come back to); the ``joining`` question takes
``1``/``是``/``候补`` (join) or ``2``/``否`` (back to the slots). ``我的候补`` (SMS ``候补``/
``WAIT``) lists the live entries, numbered; ``退出候补 <n>`` (``LEAVE <n>``) leaves one. A ``Y`` while an offer is
held for the account claims it (:func:`answer_offer`): the pending offer takes precedence over what a bare ``Y``
would mean at the current step.

A patient who lost a release lottery is invited to the slot's waitlist (``bot.lottery``: "回复 候补 加入候补"). With
an invitation pending, ``候补``/``WAIT`` (the very word the notice asks for, on WeChat and SMS alike) joins it
(:func:`answer_invitations`); without one, or once it is answered, the same word lists the entries as before — so
the word never means two things at once. ``我的候补``/``my waitlist`` always lists.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import rules
from bot.audit import patient_actor
from bot.lottery import Invitation
from bot.records import Appointment, Slot
from bot.settle import OutcomeUnconfirmed
from bot.waitlist import Entry, Joined, OfferGone, PlaceAvailable, WaitlistRefused
from dialogs import parse
from dialogs.appointments import department_name, doctor_name, hospital_name, moment_text, patient_label
from dialogs.book import BookDialog
from dialogs.book import State as BookState
from dialogs.book_base import BookBase
from dialogs.confirm import YesNoFlow, yes_no
from dialogs.machine import Dialog
from dialogs.turn import Turn
from texts import format as words

JOIN_WORDS = frozenset(
    {"候补", "加入候补", "wait", "join", "waitlist", "1", "join the waitlist", "join waitlist", "join the wait list"}
)
BACK_WORDS = frozenset({"2", "其他时段", "换一个", "other", "another"})
CLAIM_WORDS = frozenset({"y", "yes", "是", "确认", "確認", "y确认", "确认预约"})
"""What claims a held place (SPEC §8: ``Y``/``是``/``确认``)."""
INVITE_WORDS = frozenset({"候补", "加入候补", "wait", "join", "waitlist"})
"""What accepts a lottery's invitation to the waitlist (the notice says 回复 候补 / reply WAIT)."""
_LEAVE = re.compile(r"(?:退出候补|取消候补|leave) ?#?([0-9]{1,2})")
_KEEP = "keep.waitlist"
_BOOKING = ("pid", "hospital", "department", "date", "slot")


class State(StrEnum):
    listing = "listing"
    joining = "joining"


def booked_text(turn: Turn, appointment: Appointment) -> str:
    """The booking's own reply for an appointment (serial, queue, time, place, fee, cancellation deadline)."""
    hospital = turn.deps.config.hospital(appointment.hospital)
    name = hospital_name(turn, appointment.hospital)
    place = (
        turn.t("book.place_with_address", hospital=name, address=hospital.address)
        if hospital and hospital.address and turn.lang != "en"
        else name
    )
    done = turn.t(
        "book.done",
        serial=appointment.serial,
        queue=appointment.queue_no,
        visit=words.visit(appointment.date, appointment.start, turn.lang, appointment.end),
        place=place,
        department=department_name(turn, appointment.hospital, appointment.department),
        doctor=doctor_name(turn, appointment),
        fee=words.money(appointment.fee_cents, turn.lang),
    )
    policy = turn.deps.store.policy_for(appointment.hospital)
    deadline = rules.cancel_deadline(policy, appointment.slot_facts(policy.tz))
    if turn.now < deadline:
        done += "\n" + turn.t("book.cancel_until", deadline=moment_text(turn, deadline, appointment.hospital))
    return done


def entry_text(turn: Turn, n: int, entry: Entry) -> str:
    """``1. 张* 11月24日 周二 09:00-10:00 内科 王医生 排第2位``."""
    if entry.status == "offered" and entry.hold_until is not None:
        status = turn.t("waitlist.status_offered", until=moment_text(turn, entry.hold_until, entry.hospital))
    else:
        status = turn.t("waitlist.status_waiting", position=turn.deps.waitlist.position(entry) or "-")
    slot = turn.deps.schedule.slot(entry.slot)
    return turn.t(
        "waitlist.item",
        n=n,
        patient=patient_label(turn, entry.patient_name_masked),
        visit=words.visit(entry.date, entry.start, turn.lang, entry.end),
        department=department_name(turn, entry.hospital, entry.department),
        doctor=doctor_name(turn, slot) if slot else entry.doctor_name,
        status=status,
    )


def show_listing(turn: Turn) -> None:
    """The account's live entries, numbered as ``退出候补 <n>`` takes them."""
    entries = turn.deps.waitlist.of_account(turn.acct)
    if not entries:
        turn.say("waitlist.none")
        return
    lines = [turn.t("waitlist.header", count=len(entries))]
    lines += [entry_text(turn, n, entry) for n, entry in enumerate(entries, start=1)]
    lines.append(turn.t("waitlist.leave_hint"))
    turn.paragraphs.append("\n".join(lines))


def leave(turn: Turn, number: int) -> None:
    """Leave the account's ``number``-th live entry (as listed)."""
    entries = turn.deps.waitlist.of_account(turn.acct)
    if not 1 <= number <= len(entries):
        turn.say("waitlist.leave_unknown", n=number)
        return
    entry = entries[number - 1]
    turn.deps.waitlist.leave(turn.acct, entry.id, patient_actor(turn.channel.value))
    turn.say(
        "waitlist.left",
        visit=words.visit(entry.date, entry.start, turn.lang, entry.end),
        department=department_name(turn, entry.hospital, entry.department),
    )


def leave_number(text: str) -> int | None:
    """The number of ``退出候补 2`` / ``LEAVE 2``, else None."""
    found = _LEAVE.fullmatch(parse.normalize(text))
    return int(found[1]) if found else None


OWN_YES_STATES = frozenset({"cancel.confirm", "reschedule.confirm", "patients.confirm_remove"})
"""Questions whose ``Y`` does something else for good (cancel this appointment, move it, remove a patient): a ``Y``
there answers them, never claims a held place in their stead (the patient would lose the cancellation they asked
for, and get a booking they did not); the held place is recalled after the answer (:func:`recall_offer`)."""


def answer_offer(turn: Turn) -> bool:
    """A ``Y`` while a place is held for this account claims it; False when the message is something else."""
    if not _claims(turn):
        return False
    if turn.session.state in OWN_YES_STATES:
        return False  # that question's own yes (recall_offer says the place is still held)
    offer = turn.deps.waitlist.pending_offer(turn.acct, lapsed=True)
    if offer is None:
        return False
    claim(turn, offer)
    return True


def _claims(turn: Turn) -> bool:
    """A claim word, from an account that held an offer when the step began (``dialog_begin.lua``; none: nothing to
    read)."""
    return turn.offers_held is not False and parse.normalize(turn.text).replace(" ", "") in CLAIM_WORDS


def recall_offer(turn: Turn) -> None:
    """After a ``Y`` answered a question of :data:`OWN_YES_STATES`: the place still held, and that ``Y`` claims it."""
    if not _claims(turn):
        return
    offer = turn.deps.waitlist.pending_offer(turn.acct)
    if offer is not None:  # said before the menu the answer went back to (its last paragraph)
        at = len(turn.paragraphs)
        if turn.session.state.startswith("menu") and turn.paragraphs:
            at -= 1
        turn.paragraphs.insert(at, turn.t("waitlist.offer_recalled", item=entry_text(turn, 1, offer)[3:]))


def claim(turn: Turn, offer: Entry) -> None:
    """Book the held place: the booking's reply, its confirmation and reminders; or why not (the place moves on)."""
    turn.session.reset()
    try:
        appointment = turn.deps.waitlist.claim(turn.acct, offer.id)
    except OfferGone:
        turn.say("waitlist.offer_expired")
        turn.switch("menu")
        return
    except WaitlistRefused as refused:
        say_refusal(turn, refused.decision, offer)
        turn.say("waitlist.claim_passed")
        turn.switch("menu")
        return
    except OutcomeUnconfirmed as pending:  # the replicas did not confirm it: the outcome follows (SPEC §7)
        found = turn.deps.waitlist.address(offer.id)
        channel, to = found if found else (turn.channel.value, turn.inbound.user)
        turn.deps.booking.settlements.defer(pending, to, channel)
        turn.say("settle.booking_pending", serial=pending.appointment.serial)
        turn.switch("menu")
        return
    address = turn.deps.waitlist.address(offer.id)
    channel, to = address if address else (turn.channel.value, turn.inbound.user)
    turn.deps.reminders.on_booked(appointment, to, channel)
    turn.paragraphs.append(turn.t("waitlist.claimed") + "\n" + booked_text(turn, appointment))
    turn.switch("menu")


def answer_invitations(turn: Turn) -> bool:
    """``候补``/``WAIT`` with lottery invitations pending: join each slot's waitlist (or say why not, or that it
    lapsed); False when the message is not that word or nothing is pending (then it lists). Each invitation is
    dropped once answered; a place for sale instead takes a lone invitation to the booking's confirmation."""
    if parse.normalize(turn.text) not in INVITE_WORDS:
        return False
    lottery = turn.deps.lottery
    own = set(turn.deps.patients.patient_ids(turn.acct))
    invitations = [i for i in lottery.invitations(turn.acct) if i.pid in own]
    if not invitations:
        return False
    for invitation in invitations:
        available = _accept(turn, invitation)
        lottery.drop_invitation(turn.acct, invitation)
        if available is not None and len(invitations) == 1:
            turn.data.update(pid=invitation.pid, hospital=available.hospital, department=available.department)
            turn.data.update(date=available.date, slot=available.id)
            BookDialog().start(turn, BookState.confirm)
            return True
    turn.switch("menu")
    return True


def _accept(turn: Turn, invitation: Invitation) -> Slot | None:
    """Join the waitlist one invitation is for, and say how it went; the slot when it has a place for sale."""
    slot = turn.deps.schedule.slot(invitation.slot_id)
    if slot is None or turn.now >= invitation.until:
        visit = words.visit(slot.date, slot.start, turn.lang, slot.end) if slot else invitation.slot_id
        department = department_name(turn, slot.hospital, slot.department) if slot else ""
        hospital = slot.hospital if slot else ""
        turn.say(
            "lottery.invite_lapsed",
            visit=visit,
            department=department,
            deadline=moment_text(turn, invitation.until, hospital),
        )
        return None
    actor = patient_actor(turn.channel.value)
    try:
        joined = turn.deps.waitlist.join(
            invitation.pid, turn.acct, turn.channel.value, turn.inbound.user, slot.id, actor
        )
    except PlaceAvailable:
        turn.say(
            "lottery.invite_available",
            visit=words.visit(slot.date, slot.start, turn.lang, slot.end),
            department=department_name(turn, slot.hospital, slot.department),
        )
        return slot
    except WaitlistRefused as refused:
        say_refusal(turn, refused.decision, slot)
        return None
    say_joined(turn, joined, slot)
    return None


def say_joined(turn: Turn, joined: Joined, slot: Slot) -> None:
    """``已加入候补``: who, which slot, the place in the queue, until when waiting lasts."""
    entry = joined.entry
    policy = turn.deps.store.policy_for(slot.hospital)
    ends = rules.waiting_ends(policy, slot.facts(policy.tz))
    turn.say(
        "waitlist.joined",
        patient=patient_label(turn, entry.patient_name_masked),
        visit=words.visit(entry.date, entry.start, turn.lang, entry.end),
        department=department_name(turn, entry.hospital, entry.department),
        doctor=doctor_name(turn, slot),
        position=joined.position,
        ends=moment_text(turn, ends, slot.hospital),
    )


def say_refusal(turn: Turn, decision: rules.Decision, entry: Entry | Slot) -> None:
    """A refusal of the booking rules, said as the booking dialog says it (which rule, until when, what next)."""
    if decision.rule in ("waitlist_max", "waitlist_already", "waitlist_closed"):
        deadline = decision.retry_after
        values: dict[str, Any] = {"n": turn.deps.store.policy_for(entry.hospital).waitlist_max_entries}
        if deadline is not None:
            values["deadline"] = moment_text(turn, deadline, entry.hospital)
        turn.say(f"waitlist.refused_{decision.rule}", **values)
        return
    turn.data.update(hospital=entry.hospital, department=entry.department, date=entry.date)
    BookBase(turn, State.joining, WaitlistDialog.machine()).say_refusal(decision)


class WaitlistFlow(YesNoFlow):
    """The listing, and the question whether to join a full slot's waitlist."""

    yes_words = JOIN_WORDS
    no_words = BACK_WORDS

    def ask_yes_no(self) -> None:
        """Neither join nor back: echoed, and this question's own answers repeated (not a bare Y/N hint)."""
        self.say("waitlist.join_again", text=self.turn.echo)

    def ask_listing(self) -> None:
        if answer_invitations(self.turn):
            return
        show_listing(self.turn)
        self.turn.switch("menu")

    def ask_joining(self) -> None:
        turn = self.turn
        if _KEEP in turn.data:
            turn.data.update(turn.data.pop(_KEEP))
        slot = turn.deps.schedule.slot(str(turn.data.get("slot", "")))
        if slot is None:
            turn.switch("menu")
            return
        turn.say("waitlist.slot_full", doctor=doctor_name(turn, slot), start=slot.start)

    def join(self) -> None:
        turn = self.turn
        slot = turn.deps.schedule.slot(str(turn.data["slot"]))
        pid = str(turn.data["pid"])
        if slot is None:
            turn.switch("menu")
            return
        try:
            joined = turn.deps.waitlist.join(
                pid, turn.acct, turn.channel.value, turn.inbound.user, slot.id, patient_actor(turn.channel.value)
            )
        except PlaceAvailable:
            turn.say("waitlist.available")
            self.back_to_booking("confirm")
            return
        except WaitlistRefused as refused:
            say_refusal(turn, refused.decision, slot)
            turn.switch("menu")
            return
        say_joined(turn, joined, slot)
        turn.switch("menu")

    def back(self) -> None:
        self.turn.say("waitlist.declined")
        self.back_to_booking("slot")

    def back_to_booking(self, state: str) -> None:
        """Back into the booking dialog at its ``state`` (the slots, or the confirmation), its choices kept."""
        turn = self.turn
        kept = {name: turn.data[name] for name in _BOOKING if name in turn.data}
        turn.session.data = {**kept}
        if state == "slot":
            turn.data.pop("slot", None)
        BookDialog().start(turn, BookState(state))


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "answer", "source": State.listing, "dest": None},
    *yes_no(State.joining, yes="join", no="back"),
]


class WaitlistDialog(Dialog):
    """候补: the listing (first state) and joining a full slot."""

    name = "waitlist"
    states = State
    transitions = TRANSITIONS
    flow = WaitlistFlow

    def start(self, turn: Turn, state: StrEnum | None = None) -> None:
        """The listing; the join question when the booking dialog handed a full slot over."""
        super().start(turn, state or (State.joining if _KEEP in turn.data else State.listing))
