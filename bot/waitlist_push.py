"""The pushes of the waitlist and of rescheduling: an offer (outbox kind ``offer``) to the channel the patient joined
on, and the ``rescheduled`` notice where a push is due (WeChat; over SMS the reply already said it).

Sent by jobs (``bot.jobs.send_offer``, ``bot.jobs.send_rescheduled``), once per key (``offer-<entry>``,
``rescheduled-<serial>``); a WeChat user out of reach falls back to an SMS to the patient's verified phone, as the
appointment notices do (:class:`bot.notifications.notifier.Notifier`).
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

    def _send(self, entry_id: str) -> Delivery:
        entry = self.waitlist.get(entry_id)
        address = self.waitlist.address(entry_id)
        if entry is None or address is None:
            return Delivery(ok=True, skipped="gone")
        lang = self.notifier.patients.account_language(entry.acct) or "zh"
        body = self.offer_text(entry_id, lang)
        if body is None:
            return Delivery(ok=True, skipped="not_offered")
        channel, to = address
        key = f"offer-{entry_id}"
        facts = self.offer_facts(entry, lang)
        [result] = self.notifier.send_on(
            channel,
            [OutboundMessage(channel, to, OutboxKind.offer, body, key, facts=facts if channel == "sms" else {})],
        )
        if result.ok:
            return Delivery(ok=True, channel=channel)
        if channel != "wechat" or result.error != UNREACHABLE:
            return Delivery(ok=False, channel=channel, error=result.error)
        try:
            phone = self.notifier.patients.phone_of(entry.pid)
        except UnknownPatientError:
            return Delivery(ok=False, error=UNREACHABLE, final=True)
        message = OutboundMessage("sms", phone, OutboxKind.offer, body, f"{key}:sms", facts=facts)
        [fallback] = self.notifier.send_on("sms", [message])
        return Delivery(ok=fallback.ok, channel="sms", error=fallback.error)
