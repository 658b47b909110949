"""Real-name verification: name → ID number → phone → SMS code (RULES §1), each mistake explained.

Over SMS the sender's own phone is proven by the channel itself, so verifying oneself stops after the ID number. The
same dialog adds a family member (``keep.purpose = "add"``), with the code sent to *their* phone. A person who is
already registered (same ID number) is confirmed by a code to the phone registered for them, never by a phone a
new account types in: knowing someone's name and ID number is not enough to take their record over. Personal data
typed along the way is kept encrypted in the session until the code is verified.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import rules
from bot.otp import OtpDeliveryError, OtpRateLimitedError, OtpResult
from bot.patients import InvalidInputError, TooManyPatientsError, check_name, clean_name
from dialogs.machine import Dialog, Flow
from dialogs.message import Channel

RESEND_WORDS = frozenset({"重发", "重新发送", "resend", "重新获取"})


class State(StrEnum):
    name = "name"
    id_number = "id_number"
    phone = "phone"
    code = "code"


class VerifyFlow(Flow):
    """Guards and questions of the verification dialog."""

    # --- questions -------------------------------------------------------------------------------------
    def ask_name(self) -> None:
        self.say("verify.ask_name")

    def ask_id_number(self) -> None:
        self.say("verify.ask_id_number", name=rules.mask_name(self.turn.secret("name")))  # never a full name in clear

    def ask_phone(self) -> None:
        turn = self.turn
        sender = rules.normalize_mobile(turn.inbound.user) if turn.channel == Channel.sms else None
        if turn.data.get("registered"):
            # a person already known: only their registered phone may confirm (never replaced by a stranger's)
            if sender is not None and sender == turn.secret("phone"):
                self.finish()  # talking from that very phone
                return
            self.say("verify.registered_phone", phone=rules.mask_phone(turn.secret("phone")))
            self.fire("known")
            return
        if sender is not None and self.purpose == "verify":  # over SMS the channel proves the sender's own phone
            turn.keep_secret("phone", sender)
            self.finish()
            return
        self.say("verify.ask_phone")

    def ask_code(self) -> None:
        self.send_code()

    # --- guards (each explains a refusal) --------------------------------------------------------------
    def name_ok(self) -> bool:
        try:
            name = check_name(self.turn.raw_text)
        except InvalidInputError as bad:
            self.say(f"verify.bad_name_{bad.reason}")
            return False
        self.turn.keep_secret("name", name)
        return True

    def id_ok(self) -> bool:
        check = rules.validate_id_number(self.turn.text.replace(" ", ""), self.turn.today())
        if not check.valid or check.normalized is None:
            self.say(f"verify.bad_id_{check.reason or 'length'}")
            return False
        self.turn.keep_secret("id_number", check.normalized)
        deps = self.turn.deps
        pid = deps.box.lookup_hash(check.normalized, kind="id")
        if deps.patients.get(pid) is not None:
            if clean_name(deps.patients.name_of(pid)) != clean_name(self.turn.secret("name")):
                self.turn.data["mismatch"] = True
                return False
            self.turn.keep_secret("phone", deps.patients.phone_of(pid))
            self.turn.data["registered"] = True
        return True

    def name_mismatch(self) -> bool:
        """The ID number belongs to a registered person of another name: say so, ask the name again."""
        if not self.turn.data.pop("mismatch", False):
            return False
        self.say("verify.name_mismatch")
        for name in ("secret.name", "secret.id_number", "secret.phone", "registered"):
            self.turn.data.pop(name, None)
        return True

    def phone_ok(self) -> bool:
        mobile = rules.normalize_mobile(self.turn.text)
        if mobile is None:
            self.say("verify.bad_phone")
            return False
        self.turn.keep_secret("phone", mobile)
        return True

    def wants_resend(self) -> bool:
        return self.turn.text in RESEND_WORDS

    def code_ok(self) -> bool:
        otp = self.turn.deps.otp
        result = otp.verify(self.turn.secret("phone"), self.purpose, self.turn.text)
        if result == OtpResult.ok:
            return True
        if result == OtpResult.malformed:  # a typing slip keeps the try: say what a code looks like
            self.say("verify.code_format", length=self.turn.deps.config.policy.otp_length)
        elif result == OtpResult.wrong:
            left = self.turn.deps.config.policy.otp_max_attempts - self.turn.data.get("wrong", 0) - 1
            self.turn.data["wrong"] = self.turn.data.get("wrong", 0) + 1
            self.say("verify.code_wrong", left=max(left, 0))
        elif result == OtpResult.too_many_attempts:
            self.say("verify.code_burnt")
        else:
            self.say("verify.code_expired")
        return False

    # --- actions ---------------------------------------------------------------------------------------
    @property
    def purpose(self) -> str:
        return "add_patient" if self.turn.data.get("keep.purpose") == "add" else "verify"

    def send_code(self) -> None:
        phone = self.turn.secret("phone")
        try:
            sent = self.turn.deps.otp.send(phone, self.purpose, self.turn.lang)
        except OtpRateLimitedError as wait:
            seconds = max(1, math.ceil((wait.retry_after - self.turn.now).total_seconds()))
            if wait.reason == "resend":
                self.say("verify.resend_wait", seconds=seconds)
            else:  # the hourly limit: minutes read better than thousands of seconds
                self.say("verify.resend_wait_minutes", minutes=math.ceil(seconds / 60))
            return
        except OtpDeliveryError:
            self.say("verify.send_failed")
            return
        self.turn.data["wrong"] = 0
        minutes = max(1, self.turn.deps.config.policy.otp_ttl_seconds // 60)
        self.say("verify.ask_code", phone=sent.phone_masked, minutes=minutes)

    def finish(self) -> None:
        turn = self.turn
        try:
            patient = turn.deps.patients.add_patient(
                turn.acct, turn.channel.value, turn.secret("name"), turn.secret("id_number"), turn.secret("phone")
            )
        except InvalidInputError as bad:
            if bad.reason == "mismatch":
                self.say("verify.name_mismatch")  # registered by someone else meanwhile
                self.turn.data.pop("secret.name", None)
                self.state = State.name
                self.say("verify.ask_name")
                return
            raise
        except TooManyPatientsError as full:
            self.say(f"verify.too_many_patients_{full.scope}", limit=full.limit)
            turn.data.pop("keep.purpose", None)
            turn.switch(turn.data.pop("keep.after", "menu"))
            return
        turn.deps.patients.set_active(turn.acct, patient.pid)
        self.say("verify.done", name=patient.name_masked, phone=patient.phone_masked)
        after = turn.data.pop("keep.after", "menu")
        turn.data.pop("keep.purpose", None)
        turn.switch(after)


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "answer", "source": State.name, "dest": State.id_number, "conditions": "name_ok"},
    {"trigger": "answer", "source": State.name, "dest": None},
    {"trigger": "answer", "source": State.id_number, "dest": State.phone, "conditions": "id_ok"},
    {"trigger": "answer", "source": State.id_number, "dest": State.name, "conditions": "name_mismatch"},
    {"trigger": "answer", "source": State.id_number, "dest": None},
    {"trigger": "known", "source": State.phone, "dest": State.code},
    {"trigger": "answer", "source": State.phone, "dest": State.code, "conditions": "phone_ok"},
    {"trigger": "answer", "source": State.phone, "dest": None},
    {"trigger": "answer", "source": State.code, "dest": None, "conditions": "wants_resend", "after": "send_code"},
    {"trigger": "answer", "source": State.code, "dest": None, "conditions": "code_ok", "after": "finish"},
    {"trigger": "answer", "source": State.code, "dest": None},
]


class VerifyDialog(Dialog):
    """实名认证."""

    name = "verify"
    states = State
    transitions = TRANSITIONS
    flow = VerifyFlow
