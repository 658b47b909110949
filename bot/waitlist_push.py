"""The pushes of the waitlist and of rescheduling: an offer (outbox kind ``offer``) to the channel the patient joined
on, the notice of a waiter skipped at an offer (kind ``waitlist_skipped``: the booking rules no longer allowed them
the freed place, and their wait ended), and the ``rescheduled`` notice where a push is due (WeChat; over SMS the
reply already said it).

Sent by jobs (``bot.jobs.send_offer``, ``bot.jobs.send_skip_notice``, ``bot.jobs.send_rescheduled``), once per key
(``offer-<entry>``, ``skipped-<entry>``, ``rescheduled-<serial>``); a WeChat user out of reach falls back to an SMS to
the patient's verified phone, as the appointment notices do (:class:`bot.notifications.notifier.Notifier`).
"""

from __future__ import annotations

from typing import Any

import rules
from bot.names import name_in
from bot.notifications.notifier import UNREACHABLE, Delivery, Notifier
from bot.notifications.outbox import OutboundMessage, OutboxKind
from bot.patients import UnknownPatientError
from bot.waitlist import Entry, WaitlistService
from texts import format as words
from texts import text

SKIP_REASONS = {
    "limit_same_day_department": "same_day",
    "limit_same_day": "same_day",
    "already_booked": "same_day",
    "limit_7_days": "recent",
    "limit_3_months": "recent",
    "suspended": "suspended",
    "flagged": "suspended",
}
"""The rule that skipped a waiter -> the words of its notice (``notice.waitlist_skipped_<words>``); any other rule
is said as the booking rules not allowing it (``notice.waitlist_skipped``)."""


class WaitlistPush:
    """Composes and sends the offer of one waitlist entry."""

    def __init__(self, waitlist: WaitlistService, notifier: Notifier) -> None:
        self.waitlist = waitlist
        self.notifier = notifier
        self.config = notifier.config

    def offer_text(self, entry_id: str, lang: str) -> str | None:
        """The offer of a held entry in ``lang``; None when it is not held any more."""
        entry = self.waitlist.get(entry_id)
        if entry is None or entry.status != "offered" or entry.hold_until is None:
            return None
        return text(lang, "notice.offer", **self._values(entry, lang))

    def offer_facts(self, entry: Entry, lang: str) -> dict[str, str]:
        """The offer as data, for a template-only SMS provider (``sms_template.offer``: date, time, department and
        ``deadline``, the end of the hold as ISO)."""
        values = self._values(entry, lang)
        hold = entry.hold_until
        return {
            "lang": lang,
            "patient": values["patient"],
            "date": entry.date,
            "start": entry.start,
            "end": entry.end,
            "hospital": values["hospital"],
            "department": values["department"],
            "doctor": values["doctor"],
            "deadline": hold.astimezone(self._policy(entry).tz).isoformat() if hold else "",
        }

    def skip_text(self, entry: Entry, lang: str) -> str:
        """The notice of a skipped waiter in ``lang``: which place came up, why it was not theirs, that waiting
        ended."""
        words = SKIP_REASONS.get(entry.reason)
        return text(
            lang,
            f"notice.waitlist_skipped_{words}" if words else "notice.waitlist_skipped",
            **self._values(entry, lang),
        )

    def skip_facts(self, entry: Entry, lang: str) -> dict[str, str]:
        """The skip notice as data, for a template-only SMS provider (``sms_template.waitlist_skipped``)."""
        values = self._values(entry, lang)
        facts = {name: values[name] for name in ("patient", "hospital", "department", "doctor")}
        return {"lang": lang, "date": entry.date, "start": entry.start, "end": entry.end, **facts}

    def _policy(self, entry: Entry) -> rules.Policy:
        hospital = self.config.hospital(entry.hospital)
        return hospital.policy if hospital else self.config.policy

    def _values(self, entry: Entry, lang: str) -> dict[str, Any]:
        hospital = self.config.hospital(entry.hospital)
        department = hospital.department(entry.department) if hospital else None
        until = entry.hold_until.astimezone(self._policy(entry).tz) if entry.hold_until else None
        values: dict[str, Any] = {
            "patient": name_in(lang, entry.patient_name_masked),
            "visit": words.visit(entry.date, entry.start, lang, entry.end),
            "hospital": name_in(lang, hospital.name, hospital.name_en) if hospital else entry.hospital,
            "department": name_in(lang, department.name, department.name_en) if department else entry.department,
            "doctor": name_in(lang, entry.doctor_name or entry.doctor, person=True),
            "until": words.moment(until, lang) if until else "-",
        }
        return values

    def send(self, entry_id: str) -> Delivery:
        """Push the offer of ``entry_id`` once (nothing when it is no longer held); a push that cannot be retried
        with any hope (sent, skipped, or final) is no longer queued again by the periodic duty."""
        delivery = self._send(entry_id)
        if delivery.ok or delivery.final:
            self.waitlist.sent(entry_id)
        return delivery

    def send_skip_notice(self, entry_id: str) -> Delivery:
        """Tell the waiter of ``entry_id`` once that they were skipped (nothing when they were not); not queued
        again once sent, skipped or final."""
        delivery = self._send_skip_notice(entry_id)
        if delivery.ok or delivery.final:
            self.waitlist.sent(entry_id)
        return delivery

    def _send_skip_notice(self, entry_id: str) -> Delivery:
        entry = self.waitlist.get(entry_id)
        address = self.waitlist.address(entry_id)
        if entry is None or address is None:
            return Delivery(ok=True, skipped="gone")
        if not entry.skipped:
            return Delivery(ok=True, skipped="not_skipped")
        lang = self.notifier.patients.account_language(entry.acct) or "zh"
        body = self.skip_text(entry, lang)
        return self._push(
            entry, address, OutboxKind.waitlist_skipped, body, f"skipped-{entry_id}", self.skip_facts(entry, lang)
        )

    def _send(self, entry_id: str) -> Delivery:
        entry = self.waitlist.get(entry_id)
        address = self.waitlist.address(entry_id)
        if entry is None or address is None:
            return Delivery(ok=True, skipped="gone")
        lang = self.notifier.patients.account_language(entry.acct) or "zh"
        body = self.offer_text(entry_id, lang)
        if body is None:
            return Delivery(ok=True, skipped="not_offered")
        return self._push(entry, address, OutboxKind.offer, body, f"offer-{entry_id}", self.offer_facts(entry, lang))

    def _push(
        self, entry: Entry, address: tuple[str, str], kind: OutboxKind, body: str, key: str, facts: dict[str, str]
    ) -> Delivery:
        """Push ``body`` once (``key``) on the channel the waiter joined on; by SMS to the patient's verified phone
        when WeChat cannot reach them."""
        channel, to = address
        [result] = self.notifier.send_on(
            channel, [OutboundMessage(channel, to, kind, body, key, facts=facts if channel == "sms" else {})]
        )
        if result.ok:
            return Delivery(ok=True, channel=channel)
        if channel != "wechat" or result.error != UNREACHABLE:
            return Delivery(ok=False, channel=channel, error=result.error, final=result.final)
        try:
            phone = self.notifier.patients.phone_of(entry.pid)
        except UnknownPatientError:
            return Delivery(ok=False, error=UNREACHABLE, final=True)
        message = OutboundMessage("sms", phone, kind, body, f"{key}:sms", facts=facts)
        [fallback] = self.notifier.send_on("sms", [message])
        return Delivery(ok=fallback.ok, channel="sms", error=fallback.error, final=fallback.final)
