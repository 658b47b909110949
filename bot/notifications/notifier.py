"""Notifications about an appointment (confirmation, reminders, broadcasts, hospital cancellations, no-shows),
routed to the channel the patient booked on, with an SMS fallback.

Where a notification goes is remembered when the appointment is booked (:meth:`Notifier.remember_address`,
``keys.appointment_notify``: the channel and the openid or phone, encrypted — the account id on the appointment is a
keyed hash and cannot be pushed to). A WeChat push that cannot reach the user (``SendResult.error ==
"unreachable"``: out of the 48 h window, unfollowed) falls back to an SMS to the patient's verified phone; so does an
appointment whose address is unknown. Reminders respect the patient's opt-out (TD/退订/STOP); confirmations,
broadcasts and hospital cancellations are always sent.

Every send carries an idempotency key (``reminder-<serial>-<kind>``, ``broadcast:<id>:<serial>``): a retried job
sends nothing twice. The console (outbox) senders are an adapter's (``adapters/console/sender.py``).
Their words are in ``texts/notices.py``; days, times and money are written by ``texts.format``, as in the chat.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import redis

import rules
from bot.calendar_links import CalendarLinks
from bot.clock import Clock
from bot.config import Config
from bot.crypto import SecretBox
from bot.names import name_in
from bot.notifications.facts import appointment_facts
from bot.notifications.outbox import (
    OutboundMessage,
    OutboxKind,
    Sender,
    SendResult,
)
from bot.notifications.push_reports import Pushed, PushReports
from bot.patients import PatientService, UnknownPatientError, phone_hash
from bot.records import Appointment, local_moment
from bot.records import text as decoded
from bot.storage import keys
from texts import format as words
from texts import text

if TYPE_CHECKING:  # bot.appointments -> bot.settle -> this module at run time
    from bot.appointments import AppointmentStore

log = logging.getLogger(__name__)

UNREACHABLE = "unreachable"
"""The error a WeChat sender returns when the user cannot be reached (45015, 43004, ...): fall back to SMS."""
NO_ADDRESS = "no_address"
SMS_REPLIED = "sms_replied"
"""Why the confirmation of an SMS booking is not pushed: the booking's reply already confirmed it."""
ADDRESS_KEPT = timedelta(days=30)
"""How long after the visit the notification address of an appointment is kept."""
_ADDRESS_CONTEXT = "notify.to"
SLOT_CACHE_SIZE = 1_000
DEFAULT_LANGUAGE = "zh"


def notice(lang: str, key: str, **values: Any) -> str:
    """The notice ``key`` (``confirmation``, a reminder kind, ``broadcast``, ...) in ``lang``, placeholders filled;
    its words live in ``texts/notices.py``."""
    return text(lang, f"notice.{key}", **values)


@dataclass(frozen=True)
class Address:
    """Where an appointment's notifications go: a channel (``wechat``, ``sms``, ``console``) and the openid/phone."""

    channel: str
    to: str


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: sent (on ``channel``), skipped (``skipped`` says why), or failed (``final``
    when trying again cannot help: no address and no phone, unreachable on WeChat and no phone, no SMS template for
    its kind)."""

    ok: bool
    channel: str | None = None
    error: str | None = None
    skipped: str | None = None
    final: bool = False


@dataclass(frozen=True)
class Outgoing:
    """One notification to deliver: about ``appointment``, to ``address`` (None: not remembered, SMS to the
    patient's phone)."""

    appointment: Appointment
    kind: OutboxKind
    body: str
    key: str
    address: Address | None
    facts: Mapping[str, str] = field(default_factory=dict)
    """Facts of this notice beyond the appointment's own (a no-show's count…), for template-only SMS providers."""
    sms_body: str | None = None
    """The body of an SMS fallback when it differs (shorter: an SMS stays within 2 segments)."""

    def pushed(self) -> Pushed:
        """What a template message of this notification carries (for its delivery report)."""
        return Pushed(self.appointment.serial, self.kind, self.key, self.sms_body or self.body)

    def message(self, channel: str, facts: Mapping[str, str] | None = None) -> OutboundMessage:
        """As a message on ``channel`` to its address (``facts``: the notice as data, for an SMS)."""
        assert self.address is not None
        return OutboundMessage(
            channel, self.address.to, self.kind, self.body, idempotency_key=self.key, facts=facts or {}
        )


@runtime_checkable
class BatchSender(Protocol):
    """A sender that can send many messages in one go (one round trip)."""

    def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]: ...


def _guarded(sender: Sender, message: OutboundMessage) -> SendResult:
    try:
        return sender.send(message)
    except Exception as exc:  # one failed send must not fail the others
        log.warning("send failed", extra={"channel": message.channel, "error": type(exc).__name__})
        return SendResult(ok=False, error=type(exc).__name__)


class Notifier:
    """Routes notifications of appointments to the right channel, once per idempotency key."""

    def __init__(
        self,
        redis_client: redis.Redis,
        box: SecretBox,
        config: Config,
        patients: PatientService,
        senders: Mapping[str, Sender],
        *,
        links: CalendarLinks | None = None,
        reports: PushReports | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis_client
        self.clock = clock
        self.box = box
        self.config = config
        self.patients = patients
        self.senders = dict(senders)
        self.links = links
        self.reports = reports
        self._slot_cache: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    # --- addresses -------------------------------------------------------------------------------------
    def remember_address(self, appointment: Appointment, to: str, channel: str | None = None) -> None:
        """Keep where this appointment's notifications go (the booking account's openid or phone), encrypted."""
        key, fields, until = self.address_record(appointment, to, channel)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"channel": fields["channel"], "to_enc": fields["to_enc"]})
        pipe.expireat(key, until)
        pipe.execute()

    def address_record(
        self, appointment: Appointment, to: str, channel: str | None = None
    ) -> tuple[str, dict[str, str], int]:
        """What :meth:`remember_address` writes: the key, its fields (the address encrypted) and until when (epoch s)
        it is kept; for a script that writes it with other things in one step (``reminders_booked.lua``)."""
        end = local_moment(appointment.date, appointment.end, self._policy(appointment).tz)
        fields = {"channel": channel or appointment.channel, "to_enc": self.box.encrypt(to, context=_ADDRESS_CONTEXT)}
        return keys.appointment_notify(appointment.serial), fields, int((end + ADDRESS_KEPT).timestamp())

    def addresses(self, serials: Sequence[str]) -> dict[str, Address]:
        """The remembered addresses of these appointments (in one round trip); unknown ones left out."""
        pipe = self.redis.pipeline(transaction=False)
        for serial in serials:
            pipe.hmget(keys.appointment_notify(serial), ["channel", "to_enc"])
        found = {}
        for serial, (channel, to_enc) in zip(serials, pipe.execute(), strict=True):
            if channel and to_enc:
                found[serial] = Address(decoded(channel), self.box.decrypt(decoded(to_enc), context=_ADDRESS_CONTEXT))
        return found

    def address(self, serial: str) -> Address | None:
        """The remembered address of one appointment."""
        return self.addresses([serial]).get(serial)

    # --- preferences -----------------------------------------------------------------------------------
    def language(self, appointment: Appointment) -> str:
        """The language of the booking account (``zh`` unless it chose ``en``)."""
        return self.patients.account_language(appointment.acct) or DEFAULT_LANGUAGE

    def opted_out(self, appointment: Appointment, address: Address | None) -> bool:
        """Whether reminders must not be sent: the patient's phone, or the SMS number booked from, opted out."""
        view = self.patients.get(appointment.pid)
        if view is not None and view.phone_hash and self.patients.is_opted_out(view.phone_hash):
            return True
        return bool(
            address is not None
            and address.channel == "sms"
            and self.patients.is_opted_out(phone_hash(self.box, address.to))
        )

    # --- sending ---------------------------------------------------------------------------------------
    def deliver(
        self,
        appointment: Appointment,
        kind: OutboxKind,
        body: str,
        key: str,
        *,
        respect_opt_out: bool = False,
        address: Address | None = None,
        lookup: bool = True,
        facts: Mapping[str, str] | None = None,
    ) -> Delivery:
        """Send ``body`` about ``appointment`` on its channel (WeChat falling back to SMS), once per ``key``.

        ``address`` may be passed when already read (``lookup=False`` then means: none is remembered).
        """
        if address is None and lookup:
            address = self.address(appointment.serial)
        if respect_opt_out and self.opted_out(appointment, address):
            return Delivery(ok=True, skipped="opted_out")
        if kind == OutboxKind.confirmation and address is not None and address.channel == "sms":
            # booked by SMS: the TwiML reply was the confirmation, a push would say it twice (SPEC §5)
            return Delivery(ok=True, skipped=SMS_REPLIED)
        sms_body = None
        if kind == OutboxKind.confirmation and address is not None and address.channel == "wechat":
            # the calendar link (SPEC §7) rides in the WeChat confirmation; an SMS fallback stays within 2 segments
            sms_body, body = body, self.with_calendar_link(appointment, body)
        return self.deliver_many([Outgoing(appointment, kind, body, key, address, facts or {}, sms_body)])[0]

    def with_calendar_link(self, appointment: Appointment, body: str) -> str:
        """``body`` and a line with the appointment's calendar link, when ``server.calendar_base_url`` is set."""
        url = self.links.url_for(appointment) if self.links is not None else None
        return f"{body}\n{text(self.language(appointment), 'ics.link', url=url)}" if url else body

    def deliver_many(self, items: Sequence[Outgoing]) -> list[Delivery]:
        """:meth:`deliver` for many (no opt-out: broadcasts), the sends of one channel batched when its sender can."""
        results: list[Delivery | None] = [None] * len(items)
        by_channel: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if item.address is None:
                results[i] = self._fallback(item, NO_ADDRESS)
            else:
                by_channel.setdefault(item.address.channel, []).append(i)
        pushed: list[tuple[str, Pushed]] = []
        for channel, indexes in by_channel.items():
            messages = [items[i].message(channel, self._sms_facts(items[i], channel)) for i in indexes]
            for i, result in zip(indexes, self._send_many(channel, messages), strict=True):
                if result.ok:
                    results[i] = Delivery(ok=True, channel=channel)
                    if channel == "wechat" and result.provider_id:  # its delivery is reported later (push_reports)
                        pushed.append((result.provider_id, items[i].pushed()))
                elif channel == "wechat" and result.error == UNREACHABLE:
                    results[i] = self._fallback(items[i], UNREACHABLE)
                else:
                    results[i] = Delivery(ok=False, channel=channel, error=result.error, final=result.final)
        if self.reports is not None:
            self.reports.remember(pushed)
        return [r if r is not None else Delivery(ok=False, error="lost") for r in results]

    def after_failed_push(self, msgid: str, store: AppointmentStore) -> Delivery | None:
        """WeChat reported the template message ``msgid`` failed: send its SMS fallback (SPEC §5), once (the same
        send-once key as an immediate fallback); a reminder only while the appointment is booked and the patient
        has not opted out. None when there is nothing to send (not ours, forgotten, cancelled meanwhile...)."""
        pushed = self.reports.pushed(msgid) if self.reports is not None else None
        appointment = store.get(pushed.serial) if pushed is not None else None
        if pushed is None or appointment is None:
            return None
        if pushed.kind == OutboxKind.reminder and (
            appointment.status != rules.AppointmentStatus.booked or self.opted_out(appointment, None)
        ):
            return None
        return self._fallback(Outgoing(appointment, pushed.kind, pushed.body, pushed.key, None), "push_failed")

    def _fallback(self, item: Outgoing, why: str) -> Delivery:
        try:
            phone = self.patients.phone_of(item.appointment.pid)
        except UnknownPatientError:
            return Delivery(ok=False, error=why, final=True)
        message = OutboundMessage(
            "sms",
            phone,
            item.kind,
            item.sms_body or item.body,
            idempotency_key=f"{item.key}:sms",
            facts=self._sms_facts(item, "sms"),
        )
        [result] = self._send_many("sms", [message])
        return Delivery(ok=result.ok, channel="sms", error=None if result.ok else result.error, final=result.final)

    def send_on(self, channel: str, messages: list[OutboundMessage]) -> list[SendResult]:
        """Send messages on one channel as they are (no address lookup, no fallback): a failure is a result."""
        return self._send_many(channel, messages)

    def _sms_facts(self, item: Outgoing, channel: str) -> Mapping[str, str]:
        """The notice as data, for an SMS sender that sends templates only (``templated``: Aliyun, Tencent Cloud),
        which fills its variables from it; nothing for the others (a broadcast composes thousands)."""
        if channel != "sms" or not getattr(self.senders.get("sms"), "templated", False):
            return {}
        return {**appointment_facts(self.config, item.appointment, self.language(item.appointment)), **item.facts}

    def _send_many(self, channel: str, messages: list[OutboundMessage]) -> list[SendResult]:
        sender = self.senders.get(channel)
        if sender is None:
            return [SendResult(ok=False, error=f"no sender for channel {channel}")] * len(messages)
        try:
            if isinstance(sender, BatchSender):
                return sender.send_many(messages)
            return [_guarded(sender, message) for message in messages]
        except Exception as exc:  # a provider or network failure: reported as failed sends, retried by the caller
            log.warning("send failed", extra={"channel": channel, "error": type(exc).__name__})
            return [SendResult(ok=False, error=type(exc).__name__)] * len(messages)

    # --- composing -------------------------------------------------------------------------------------
    def _policy(self, appointment: Appointment) -> rules.Policy:
        found = self.config.hospital(appointment.hospital)
        return found.policy if found is not None else self.config.policy

    def values(self, appointment: Appointment, lang: str) -> dict[str, Any]:
        """The placeholders every notice about ``appointment`` may use."""
        return {
            **self._slot_values(appointment, lang),
            "patient": name_in(lang, appointment.patient_name_masked),  # pinyin in English: the SMS stays GSM-7
            "serial": appointment.serial,
            "queue": appointment.queue_no,
            "refund": words.money(appointment.fee_cents, lang),
        }

    def _slot_values(self, appointment: Appointment, lang: str) -> dict[str, Any]:
        """What every appointment of one slot shares (cached: a broadcast composes thousands alike)."""
        cache_key = (appointment.slot, appointment.doctor_name, appointment.end, lang)
        found = self._slot_cache.get(cache_key)
        if found is not None:
            return found
        policy = self._policy(appointment)
        hospital = self.config.hospital(appointment.hospital)
        department = hospital.department(appointment.department) if hospital else None
        name = name_in(lang, hospital.name, hospital.name_en) if hospital else appointment.hospital
        start = local_moment(appointment.date, appointment.start, policy.tz)
        deadline = rules.cancel_deadline(policy, appointment.slot_facts(policy.tz))
        checkin = start - timedelta(minutes=policy.checkin_deadline_minutes)
        deadline_year, visit_year = deadline.astimezone(policy.tz).year, start.year
        values = {
            "visit": words.visit(appointment.date, appointment.start, lang, appointment.end),
            "visit_start": words.visit(appointment.date, appointment.start, lang),
            "start": appointment.start,
            "hospital": name,
            "place": f"{name}({hospital.address})" if hospital and hospital.address and lang != "en" else name,
            "department": name_in(lang, department.name, department.name_en) if department else appointment.department,
            "doctor": self._doctor(appointment, lang),
            # the year only when the deadline falls in another year than the visit (a January visit)
            "deadline": words.moment(deadline.astimezone(policy.tz), lang, year=deadline_year != visit_year),
            "checkin": words.clock(checkin.astimezone(policy.tz)),
        }
        if len(self._slot_cache) >= SLOT_CACHE_SIZE:
            self._slot_cache.clear()
        self._slot_cache[cache_key] = values
        return values

    def _doctor(self, appointment: Appointment, lang: str) -> str:
        """The doctor's name in ``lang``: the English name the schedule gave the slot, else pinyin."""
        name_en = decoded(self.redis.hget(keys.slot(appointment.slot), "doctor_name_en") or "") if lang == "en" else ""
        return name_in(lang, appointment.doctor_name or appointment.doctor, name_en, person=True)

    def languages(self, appointments: Sequence[Appointment]) -> dict[str, str]:
        """The language of each booking account of these appointments (acct -> ``zh``/``en``), in one round trip."""
        accounts = sorted({a.acct for a in appointments})
        pipe = self.redis.pipeline(transaction=False)
        for acct in accounts:
            pipe.hget(keys.account(acct), "language")
        return {
            acct: decoded(lang) if lang else DEFAULT_LANGUAGE
            for acct, lang in zip(accounts, pipe.execute(), strict=True)
        }

    def no_show(self, appointment: Appointment, standing: rules.Standing) -> Delivery:
        """Tell the patient a no-show of ``appointment`` was recorded, with the count this year and what it means
        (SPEC §8); sent once per appointment (its send-once key), never held back by a reminder opt-out."""
        lang = self.language(appointment)
        consequence = self._no_show_consequence(standing, lang)
        count = standing.no_shows_this_year
        body = self.compose(appointment, "no_show", lang=lang, count=count, consequence=consequence).rstrip()
        return self.deliver(
            appointment, OutboxKind.no_show, body, f"no_show-{appointment.serial}", facts={"count": str(count)}
        )

    def _no_show_consequence(self, standing: rules.Standing, lang: str) -> str:
        """The suspension in force, else the next tier that would suspend (RULES §5), else nothing."""
        if standing.suspended_until is not None:
            until = words.day(standing.suspended_until, lang, weekday=False, year=True)
            return notice(lang, "no_show_suspended", until=until)
        policy = self.config.policy  # standing is platform-wide, as StandingService counts it
        upcoming = sorted((n, months) for n, months in policy.no_show_tiers if n > standing.no_shows_this_year)
        if not upcoming:
            return ""
        key = "no_show_next" if policy.no_show_window == "calendar_year" else "no_show_next_month"
        return notice(lang, key, tier=upcoming[0][0], months=upcoming[0][1])

    def compose(self, appointment: Appointment, key: str, *, lang: str | None = None, **extra: Any) -> str:
        """The notice ``key`` (``confirmation``, a reminder kind, ``broadcast``, ``cancellation``) in the
        account's language (``lang`` when already known)."""
        lang = lang or self.language(appointment)
        values = {**self.values(appointment, lang), **extra}
        if key == "confirmation":
            values["deadline"] = self.deadline_sentence(appointment, lang, values["deadline"])
        return notice(lang, key, **values)

    def deadline_sentence(self, appointment: Appointment, lang: str, shown: str) -> str:
        """Until when ``appointment`` can be cancelled free (``shown``: that moment in words), or, when that has
        passed already (a booking for the next morning made in the evening), what cancelling means now: never a
        deadline in the past to keep."""
        if self.clock is None:
            return notice(lang, "deadline", deadline=shown)
        policy = self._policy(appointment)
        outcome = rules.cancel_terms(policy, appointment.slot_facts(policy.tz), self.clock.now()).outcome
        key = {rules.CancelOutcome.timely: "deadline", rules.CancelOutcome.late: "deadline_passed_violation"}
        return notice(lang, key.get(outcome, "deadline_passed"), deadline=shown)
