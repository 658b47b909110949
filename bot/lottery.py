"""The release lottery (SPEC §8 "Release rush", RULES §8 and §12): registration in the window, the draw at its end,
every registrant told.

With ``release_mode = "lottery"`` a booking request for a visit date made within ``lottery_window_seconds`` after
its release time *registers* the patient (:meth:`Lottery.admit`, ``lottery_register.lua``: one entry per patient per
slot, an account and a phone entering at most ``max_patients_per_account`` patients). At the window's end
:meth:`Lottery.draw` — run by the worker's periodic duty (``bot.release.run_lottery_draws``) and by the first
first-come request after the window, so that nobody books past the drawn — fixes a seed once, screens the entrants
(``rules.screen``: flagged patients out), orders them (``rules.draw_order``), gives places in that order with the
booking rules (``rules.allocate``), and commits it all in one script (``lottery_draw.lua``): the appointments, each
registrant's outcome, and the audit entry holding the seed, the hashed entrants and the order. Run again, it
changes nothing. :meth:`Lottery.tell` then tells every registrant on the channel they registered on (outbox kind
``lottery``, send-once keys) and schedules the winners' reminders; a registrant not told yet stays in the draw's
``untold`` set, so a crash in between loses no one.

A registrant not drawn is offered the waitlist of the slot they entered where it exists (the hospital's
``waitlist_max_entries`` above 0, waiting for the slot still open): an invitation is stored for their account
(``keys.lottery_invites``, ``lottery_invite.lua``) before the notice promises it, valid until waiting for the slot
ends; their reply ``候补``/``WAIT`` joins (``dialogs.waitlist``, through the waitlist's own join and its rules).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import redis

import rules
from bot.appointments import AppointmentStore
from bot.booking import (
    SERIAL_CANDIDATES,
    BookingRefused,
    BookingService,
    appointment_fields,
    new_serials,
    place_keys,
    visit_epochs,
)
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.metrics import metrics
from bot.names import name_in
from bot.notifications.notifier import UNREACHABLE, Address, Notifier, notice
from bot.notifications.outbox import OutboundMessage, OutboxKind
from bot.patients import PatientService, UnknownPatientError
from bot.records import SLOT_ID_SEPARATOR, Slot, decode_hash, text
from bot.reminders import Reminders
from bot.schedule import Schedule
from bot.storage import keys
from bot.storage.scripts import Scripts
from rules.lottery import LOTTERY
from texts import format as words

log = logging.getLogger(__name__)

DRAW_ATTEMPTS = 8
KEPT = timedelta(days=40)
"""How long a draw's registrations and outcomes are kept (its day has long left the booking window by then)."""
_TO_CONTEXT = "lottery.to"
DEFAULT_LANGUAGE = "zh"
NOT_DRAWN = "not_drawn"
SCREENED = ("flagged", "lottery_account_limit", "lottery_phone_limit")
"""Why a registrant was not entered into the draw at all (anti-scalping, RULES §8 and §12)."""
INVITE_KEPT = timedelta(days=2)
"""How long an account's invitations are kept after the last one ended: a late reply is told it ended."""


class DrawBusy(GuahaoError):
    """The patients' records kept changing while the draw was decided: it is tried again at the next tick."""


@dataclass(frozen=True)
class Registration:
    """A request registered in a draw: which, and when its results come (``new``: False when already registered)."""

    hospital: str
    date: str
    slot_id: str
    results_at: datetime
    new: bool


@dataclass(frozen=True)
class _Registrant:
    """One stored registration: the rule's view of it, and where its outcome is told."""

    entry: rules.LotteryEntry
    channel: str
    to_enc: str


@dataclass(frozen=True)
class Invitation:
    """An account's invitation to join the waitlist of the slot a patient entered and lost (until ``until``)."""

    pid: str
    slot_id: str
    until: datetime

    @property
    def field(self) -> str:
        return f"{self.pid}|{self.slot_id}"


def draw_id(hospital: str, day: str) -> str:
    """The name of the draw of a hospital's visit date (the member of ``keys.LOTTERY_DUE``, the entrant hash salt)."""
    return f"{hospital}|{day}"


class Lottery:
    """Registers, draws and tells the release lottery of each hospital's visit dates."""

    def __init__(
        self,
        redis_client: redis.Redis,
        store: AppointmentStore,
        schedule: Schedule,
        booking: BookingService,
        patients: PatientService,
        notifier: Notifier,
        reminders: Reminders,
        clock: Clock,
        box: SecretBox,
    ) -> None:
        self.redis = redis_client
        self.store = store
        self.schedule = schedule
        self.booking = booking
        self.patients = patients
        self.notifier = notifier
        self.reminders = reminders
        self.clock = clock
        self.box = box
        self._scripts = Scripts(redis_client, "lottery_register", "lottery_draw", "lottery_invite")

    # --- the request --------------------------------------------------------------------------------------
    def admit(self, pid: str, acct: str, channel: str, to: str, slot_id: str) -> Registration | None:
        """Inside a lottery window: register (raises ``BookingRefused`` for an entry refused); else ``None`` for a
        first-come booking — after running the draw of the window just ended, if it has not run yet."""
        hospital = slot_id.split(SLOT_ID_SEPARATOR, 1)[0]  # ids never hold the separator otherwise (bot.records)
        if self.store.policy_for(hospital).release_mode != LOTTERY:
            return None  # a first-come hospital: no window for any of its dates (the slot need not be read)
        slot = self.schedule.slot(slot_id)
        if slot is None:
            return None  # the booking says there is no such slot
        policy = self.store.policy_for(slot.hospital)
        window = rules.lottery_window(policy, date.fromisoformat(slot.date))
        if window is None:
            return None
        now = self.clock.now()
        if window[0] <= now < window[1]:
            registered = self.register(pid, acct, channel, to, slot, window[1])
            if registered is not None:
                return registered
        if now >= window[0]:
            self.draw(slot.hospital, slot.date)  # the drawn come before the first-come
        return None

    def register(
        self, pid: str, acct: str, channel: str, to: str, slot: Slot, results_at: datetime
    ) -> Registration | None:
        """Enter ``pid`` for ``slot`` (the booking rules checked now, and again at the draw); ``None`` when the
        window closed meanwhile. Raises ``BookingRefused``."""
        policy = self.store.policy_for(slot.hospital)
        now = self.clock.now()
        [facts] = self.booking.facts_of([(pid, slot.id)])
        if slot.status != "open" or slot.capacity <= 0:
            raise BookingRefused(rules.Decision.refuse("slot_closed" if slot.status != "open" else "slot_full"))
        decision = rules.check_booking(policy, facts.existing, slot.facts(policy.tz), facts.standing, now)
        if not decision.allowed:
            raise BookingRefused(decision)
        self.booking.check_department(slot, pid)
        view = self.patients.get(pid)
        phone = view.phone_hash if view is not None and view.phone_hash else pid
        entry = {"acct": acct, "phone": phone, "channel": channel, "to_enc": self.box.encrypt(to, context=_TO_CONTEXT)}
        name = draw_id(slot.hospital, slot.date)
        outcome = self._scripts.run(
            "lottery_register",
            keys=[
                keys.lottery(slot.hospital, slot.date),
                keys.lottery_entries(slot.hospital, slot.date),
                keys.lottery_account(slot.hospital, slot.date, acct),
                keys.lottery_phone(slot.hospital, slot.date, phone),
                keys.LOTTERY_DUE,
            ],
            args=[
                f"{pid}|{slot.id}",
                pid,
                json.dumps(entry),
                policy.max_patients_per_account,
                name,
                int(results_at.timestamp()),
                slot.hospital,
                slot.date,
                int(KEPT.total_seconds()),
                now.timestamp(),
            ],
        )
        return self._registered(text(outcome[0]), slot, results_at)

    @staticmethod
    def _registered(outcome: str, slot: Slot, results_at: datetime) -> Registration | None:
        if outcome == "closed":
            return None
        if outcome in ("account", "phone"):
            raise BookingRefused(rules.Decision.refuse(f"lottery_{outcome}_limit"))
        return Registration(slot.hospital, slot.date, slot.id, results_at, new=outcome == "ok")

    # --- the draw -----------------------------------------------------------------------------------------
    def draw(self, hospital: str, day: str) -> bool:
        """Draw the lottery of a hospital's visit date if its window has ended and it was not drawn; whether a draw
        with registrations is (now or already) drawn. Idempotent; safe from several processes at once."""
        for _ in range(DRAW_ATTEMPTS):
            state = decode_hash(self.redis.hgetall(keys.lottery(hospital, day)))
            if not state:
                return False
            if "drawn_at" in state:
                return True
            if self.clock.now().timestamp() < float(state["window_end"]):
                return False
            if self._try_draw(hospital, day, self._seed(hospital, day)):
                return True
        raise DrawBusy(f"lottery of {hospital} on {day}: records kept changing")

    def _seed(self, hospital: str, day: str) -> int:
        """The draw's seed: chosen once (64 random bits), the same for every attempt and every process."""
        key = keys.lottery(hospital, day)
        self.redis.hsetnx(key, "seed", str(secrets.randbits(64)))
        return int(text(self.redis.hget(key, "seed")))

    def registrants(self, hospital: str, day: str) -> list[_Registrant]:
        """The registrations of a draw, in registration order."""
        found = []
        for field, raw in decode_hash(self.redis.hgetall(keys.lottery_entries(hospital, day))).items():
            pid, _, slot_id = field.partition("|")
            stored = json.loads(raw)
            entry = rules.LotteryEntry(pid, slot_id, stored["acct"], stored["phone"], int(stored["seq"]))
            found.append(_Registrant(entry, stored["channel"], stored["to_enc"]))
        return sorted(found, key=lambda r: r.entry.seq)

    def _try_draw(self, hospital: str, day: str, seed: int) -> bool:
        """Decide the draw on fresh facts and commit it; False when something moved (decide again)."""
        policy = self.store.policy_for(hospital)
        now = self.clock.now()
        registrants = self.registrants(hospital, day)
        facts, versions = self._facts(registrants)
        flagged = {p for p, f in facts.items() if rules.check_standing(f.standing, now, policy.tz).rule == "flagged"}
        entered, excluded = rules.screen([r.entry for r in registrants], policy.max_patients_per_account, flagged)
        name = draw_id(hospital, day)
        hashes = {rules.entrant_hash(name, e.pid): e.pid for e in entered}
        order_hashes = rules.draw_order(hashes, seed)
        slots = self._slots({e.slot_id for e in entered})
        outcomes = rules.allocate(
            policy,
            [hashes[h] for h in order_hashes],
            [e for e in entered if e.slot_id in slots],
            {i: s.facts(policy.tz) for i, s in slots.items()},
            {i: s.places_left for i, s in slots.items()},
            facts,
            now,
        )
        detail = {
            "hospital": hospital,
            "date": day,
            "seed": seed,
            "entrants": sorted(hashes),
            "order": order_hashes,
            "drawn": [rules.entrant_hash(name, o.pid) for o in outcomes if o.entry is not None],
            "not_entered": len(excluded),
        }
        call = _DrawCall(self, registrants, slots, versions, now)
        return call.commit(hospital, day, seed, outcomes, excluded, detail)

    def _facts(self, registrants: Sequence[_Registrant]) -> tuple[dict[str, rules.LotteryFacts], dict[str, str]]:
        """Each registrant's appointments and standing, and the version of their record, in one round trip."""
        first_slot: dict[str, str] = {}
        for registrant in registrants:
            first_slot.setdefault(registrant.entry.pid, registrant.entry.slot_id)
        read = self.booking.facts_of(list(first_slot.items()))
        facts = {pid: rules.LotteryFacts(f.existing, f.standing) for pid, f in zip(first_slot, read, strict=True)}
        return facts, {pid: f.version for pid, f in zip(first_slot, read, strict=True)}

    def _slots(self, slot_ids: set[str]) -> dict[str, Slot]:
        """The stored slots of these ids (gone ones left out)."""
        found = (self.schedule.slot(slot_id) for slot_id in sorted(slot_ids))
        return {slot.id: slot for slot in found if slot is not None}

    # --- telling ------------------------------------------------------------------------------------------
    def tell(self, hospital: str, day: str) -> int:
        """Tell every registrant of a drawn lottery not told yet its outcome (once each); how many were told now.
        The draw leaves the due set once everyone is told."""
        untold = sorted(text(p) for p in self.redis.smembers(keys.lottery_untold(hospital, day)))
        raw = self.redis.hmget(keys.lottery_outcomes(hospital, day), untold) if untold else []
        told = 0
        for pid, stored in zip(untold, raw, strict=True):
            if stored is None or self._tell_one(hospital, day, pid, json.loads(text(stored))):
                self.redis.srem(keys.lottery_untold(hospital, day), pid)
                told += stored is not None
        if not self.redis.exists(keys.lottery_untold(hospital, day)):
            self.redis.zrem(keys.LOTTERY_DUE, draw_id(hospital, day))
        return told

    def _tell_one(self, hospital: str, day: str, pid: str, outcome: dict[str, Any]) -> bool:
        """Tell one registrant; whether it is done (sent, or undeliverable for good)."""
        address = Address(outcome["channel"], self.box.decrypt(outcome["to_enc"], context=_TO_CONTEXT))
        lang = self.patients.account_language(outcome["acct"]) or DEFAULT_LANGUAGE
        key = f"lottery-{hospital}-{day}-{pid}"
        serial = outcome.get("serial")
        if serial:
            appointment = self.store.require(str(serial))
            self.notifier.remember_address(appointment, address.to, address.channel)
            self.reminders.schedule(appointment)  # the notice below is the confirmation: the reminders follow
            body = self.notifier.compose(appointment, "lottery_won", lang=lang, position=outcome["position"])
            delivery = self.notifier.deliver(
                appointment, OutboxKind.lottery, body, key, address=address, facts={"result": "booked"}
            )
            return delivery.ok or delivery.final
        body = self.losing_notice(hospital, day, {**outcome, "pid": pid}, lang)
        return self._send(pid, address, body, key, self._losing_facts(pid, outcome, day, lang))

    def _losing_facts(self, pid: str, outcome: dict[str, Any], day: str, lang: str) -> dict[str, str]:
        """The losing notice as data, for a template-only SMS provider (``sms_template.lottery``): ``result`` is
        ``waitlist`` when the patient was invited to the slot's waitlist (the template then says 回复候补)."""
        slot_id = str(outcome.get("slot", ""))
        invited = any(i.pid == pid and i.slot_id == slot_id for i in self.invitations(str(outcome["acct"])))
        view = self.patients.get(pid)
        slot = self.schedule.slot(slot_id)
        hospital = self.schedule.hospital(slot.hospital) if slot else None
        department = hospital.department(slot.department) if hospital and slot else None
        return {
            "lang": lang,
            "patient": name_in(lang, view.name_masked) if view else "-",
            "date": day,
            "department": name_in(lang, department.name, department.name_en) if department else "-",
            "result": "waitlist" if invited else NOT_DRAWN,
        }

    def losing_notice(self, hospital: str, day: str, outcome: dict[str, Any], lang: str) -> str:
        """What a registrant who got no place is told: not drawn (or why not entered / refused), and what they can
        do next. The waitlist's offer to join is added here (:meth:`offer_waitlist`)."""
        found = self.schedule.hospital(hospital)
        policy = self.store.policy_for(hospital)
        values = {
            "hospital": name_in(lang, found.name, found.name_en) if found else hospital,
            "day": _day(day, lang),
            "position": outcome.get("position") or "-",
            "rule": outcome.get("reason") or NOT_DRAWN,
            "release": policy.release_time,
        }
        reason = str(values["rule"])
        key = reason if reason == NOT_DRAWN or reason in SCREENED else "refused"
        lines = [notice(lang, f"lottery_{key}", **values)]
        offer = self.offer_waitlist(outcome, lang)
        if offer:
            lines.append(offer)
        return "\n".join(lines)

    def offer_waitlist(self, outcome: dict[str, Any], lang: str) -> str | None:
        """The one place where a registrant without a place is offered the waitlist of the slot they entered (SPEC
        §8: "offered the waitlist"); the sentence to add to their notice, or None (nothing promised).

        Offered to one not drawn (``outcome["pid"]`` given), where the hospital has a waitlist and waiting for the
        slot is still open: the invitation is stored for the registering account first (the notice is sent after,
        and sent again with the same invitation after a crash), valid until waiting ends."""
        pid = outcome.get("pid")
        slot = self.schedule.slot(str(outcome.get("slot", "")))
        if not pid or (outcome.get("reason") or NOT_DRAWN) != NOT_DRAWN or slot is None:
            return None
        policy = self.store.policy_for(slot.hospital)
        ends = rules.waiting_ends(policy, slot.facts(policy.tz))
        if policy.waitlist_max_entries <= 0 or not rules.waiting_open(policy, slot.facts(policy.tz), self.clock.now()):
            return None
        self.invite(str(outcome["acct"]), Invitation(str(pid), slot.id, ends))
        return notice(lang, "lottery_invite", deadline=words.moment(ends.astimezone(policy.tz), lang))

    # --- the invitations to the waitlist ------------------------------------------------------------------
    def invite(self, acct: str, invitation: Invitation) -> None:
        """Store ``acct``'s invitation (idempotent: the same invitation again changes nothing)."""
        keep = max(1, int((invitation.until + INVITE_KEPT - self.clock.now()).total_seconds()))
        self._scripts.run(
            "lottery_invite",
            keys=[keys.lottery_invites(acct)],
            args=["invite", invitation.field, int(invitation.until.timestamp()), keep],
        )

    def invitations(self, acct: str) -> list[Invitation]:
        """The account's invitations, lapsed ones too (a reply is told they ended), the soonest to end first."""
        found = []
        for field, until in decode_hash(self.redis.hgetall(keys.lottery_invites(acct))).items():
            pid, _, slot_id = field.partition("|")
            found.append(Invitation(pid, slot_id, datetime.fromtimestamp(float(until), self.clock.now().tzinfo)))
        return sorted(found, key=lambda i: (i.until, i.slot_id, i.pid))

    def drop_invitation(self, acct: str, invitation: Invitation) -> None:
        """The invitation was answered (joined, refused, or it lapsed and the patient was told)."""
        self._scripts.run("lottery_invite", keys=[keys.lottery_invites(acct)], args=["drop", invitation.field])

    def _send(self, pid: str, address: Address, body: str, key: str, facts: dict[str, str]) -> bool:
        """Send a notice that is not about an appointment (False: try again at the next tick)."""
        try:
            return self._send_or_fall_back(pid, address, body, key, facts)
        except Exception as exc:  # a provider or network failure: this registrant is told at the next tick
            log.warning("lottery notice not sent", extra={"channel": address.channel, "error": type(exc).__name__})
            return False

    def _send_or_fall_back(self, pid: str, address: Address, body: str, key: str, facts: dict[str, str]) -> bool:
        """Send on the registrant's channel; a WeChat user out of reach gets it by SMS to the patient's phone (an
        invitation to the waitlist stays the registering account's: the reply is expected there)."""
        sender = self.notifier.senders.get(address.channel)
        message = OutboundMessage(address.channel, address.to, OutboxKind.lottery, body, key, facts=facts)
        result = sender.send(message) if sender else None
        if result is not None and result.ok:
            return True
        if result is None or result.error == UNREACHABLE:
            try:
                phone = self.patients.phone_of(pid)
            except UnknownPatientError:
                return True  # nobody to tell any more: done
            sms = self.notifier.senders.get("sms")
            if sms is None:
                return True
            return sms.send(OutboundMessage("sms", phone, OutboxKind.lottery, body, f"{key}:sms", facts=facts)).ok
        return False

    # --- the periodic duty --------------------------------------------------------------------------------
    def run_due(self) -> int:
        """Draw every lottery whose window has ended and tell its registrants; how many registrants were told."""
        now = self.clock.now().timestamp()
        told = 0
        for member in self.redis.zrangebyscore(keys.LOTTERY_DUE, "-inf", now):
            hospital, _, day = text(member).partition("|")
            try:
                if self.draw(hospital, day):
                    told += self.tell(hospital, day)
                else:
                    self.redis.zrem(keys.LOTTERY_DUE, text(member))  # nothing registered (expired): nothing to draw
            except DrawBusy:
                log.warning("lottery draw busy, tried again next tick", extra={"hospital": hospital, "date": day})
        return told

    # --- the staff view -----------------------------------------------------------------------------------
    def view(self, hospital: str, day: str, department: str | None = None) -> dict[str, Any]:
        """Who registered for a draw (names masked), whether each was entered and drawn, their position, the
        audited seed (once drawn)."""
        state = decode_hash(self.redis.hgetall(keys.lottery(hospital, day)))
        outcomes = decode_hash(self.redis.hgetall(keys.lottery_outcomes(hospital, day)))
        window = rules.lottery_window(self.store.policy_for(hospital), date.fromisoformat(day))
        rows = []
        for registrant in self.registrants(hospital, day):
            entry = registrant.entry
            slot = self.schedule.slot(entry.slot_id)
            if department is not None and (slot is None or slot.department != department):
                continue
            rows.append(_row(entry, self.patients, json.loads(outcomes[entry.pid]) if entry.pid in outcomes else None))
        return {
            "hospital": hospital,
            "date": day,
            "release_mode": "lottery" if window is not None else "first_come",
            "window": [w.isoformat() for w in window] if window else None,
            "drawn": "drawn_at" in state,
            "drawn_at": state.get("drawn_at"),
            "seed": state.get("seed") if "drawn_at" in state else None,
            "entrants": rows,
        }


def _row(entry: rules.LotteryEntry, patients: PatientService, outcome: dict[str, Any] | None) -> dict[str, Any]:
    """One registration as staff see it; ``entered`` and ``drawn`` are known once the draw ran (None before)."""
    view = patients.get(entry.pid)
    row: dict[str, Any] = {
        "patient_name_masked": view.name_masked if view else "",
        "slot": entry.slot_id,
        "registered": entry.seq,
        "entered": None,
        "drawn": None,
        "position": None,
        "serial": None,
        "reason": None,
    }
    if outcome is None:
        return row
    won = outcome.get("slot") == entry.slot_id and bool(outcome.get("serial"))
    row.update(
        entered=outcome.get("reason") not in SCREENED,
        drawn=won,
        position=outcome.get("position"),
        serial=outcome.get("serial") if won else None,
        reason=outcome.get("reason") or None,
    )
    return row


def _day(day: str, lang: str) -> str:
    return words.day(date.fromisoformat(day), lang, weekday=False)


class _DrawCall:
    """The arguments of ``lottery_draw.lua`` for one decided draw, and its commit."""

    def __init__(
        self,
        lottery: Lottery,
        registrants: Sequence[_Registrant],
        slots: dict[str, Slot],
        versions: dict[str, str],
        now: datetime,
    ) -> None:
        self.lottery = lottery
        self.where = {(r.entry.pid, r.entry.slot_id): r for r in registrants}
        self.last = {
            r.entry.pid: r for r in registrants
        }  # a patient without a place is told where they last registered
        self.slots = slots
        self.versions = versions
        self.now = now

    def commit(
        self,
        hospital: str,
        day: str,
        seed: int,
        outcomes: Sequence[rules.LotteryOutcome],
        excluded: dict[str, str],
        detail: dict[str, Any],
    ) -> bool:
        lottery = self.lottery
        store = lottery.store
        stamp = store.stamp(self.now)
        told: dict[str, dict[str, Any]] = {
            pid: self._told(self.last[pid], None, reason) for pid, reason in excluded.items()
        }
        winners = []
        for outcome in outcomes:
            registrant = (
                self.last[outcome.pid] if outcome.entry is None else self.where[(outcome.pid, outcome.entry.slot_id)]
            )
            told[outcome.pid] = self._told(registrant, outcome.position, outcome.reason)
            if outcome.entry is not None:
                winners.append(registrant)
        script_keys = [
            keys.lottery(hospital, day),
            keys.lottery_outcomes(hospital, day),
            keys.lottery_untold(hospital, day),
            keys.ALL_APPOINTMENTS,
            keys.NO_SHOW_DUE,
            keys.AUDIT,
        ]
        args: list[Any] = [
            stamp,
            json.dumps(detail),
            self.now.timestamp(),
            json.dumps(told),
            SERIAL_CANDIDATES,
            len(winners),
            int(KEPT.total_seconds()),
            str(seed),
        ]
        for registrant in winners:
            more_keys, more_args = self._winner(registrant, stamp)
            script_keys += more_keys
            args += more_args
        reply = lottery._scripts.run("lottery_draw", keys=script_keys, args=args)
        result = text(reply[0])
        if result == "ok" and winners:
            metrics().bookings.labels(hospital).inc(len(winners))
        if result not in ("ok", "done"):
            log.info("lottery draw moved, decided again", extra={"hospital": hospital, "date": day, "why": result})
        return result in ("ok", "done")

    @staticmethod
    def _told(registrant: _Registrant, position: int | None, reason: str) -> dict[str, Any]:
        entry = registrant.entry
        return {
            "position": position,
            "slot": entry.slot_id,
            "reason": reason,
            "acct": entry.acct,
            "channel": registrant.channel,
            "to_enc": registrant.to_enc,
        }

    def _winner(self, registrant: _Registrant, stamp: str) -> tuple[list[str], list[Any]]:
        entry = registrant.entry
        slot = self.slots[entry.slot_id]
        policy = self.lottery.store.policy_for(slot.hospital)
        candidates = new_serials(SERIAL_CANDIDATES)
        fields = appointment_fields(slot, entry.pid, entry.acct, registrant.channel, stamp)
        winner_keys = [
            *place_keys(slot, entry.pid),
            keys.patient(entry.pid),
            *(keys.appointment(c) for c in candidates),
        ]
        winner_args = [
            entry.pid,
            self.versions[entry.pid],
            *visit_epochs(slot, policy.tz),
            json.dumps(fields, ensure_ascii=False),
            *candidates,
        ]
        return winner_keys, winner_args
