"""Accounts and the patients (就诊人) they manage; personal data encrypted, keyed by keyed hashes.

A patient is identified by a keyed hash of the ID number (``pid``): the same ID number added from any account is
the same patient, so limits and standing follow the person, not the account. An account is a channel user
(WeChat openid, SMS phone) by keyed hash (:func:`account_id`). A patient's verified phone links the patient to the
SMS account of that phone (cross-channel, SPEC §6).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import redis

import rules
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.records import decode_hash
from bot.storage import keys
from bot.storage.scripts import Scripts

NAME_MAX_LENGTH = 30
_NAME_FORBIDDEN = re.compile(r"[0-9\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_ADD_RETRIES = 5

_NAME = "patient.name"
_ID = "patient.id_number"
_PHONE = "patient.phone"


class InvalidInputError(GuahaoError):
    """A field the user typed is not acceptable: ``field`` (name, id_number, phone) and a machine ``reason``
    (length, format, birth_date, check_digit, mismatch)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TooManyPatientsError(GuahaoError):
    """The account (``scope="account"``) or the SMS account of the patient's phone (``scope="phone"``) already
    manages ``limit`` patients."""

    def __init__(self, limit: int, scope: str = "account") -> None:
        super().__init__(f"at most {limit} patients per account")
        self.limit = limit
        self.scope = scope


class UnknownPatientError(GuahaoError):
    """No such patient, or not one this account manages."""


def account_id(box: SecretBox, channel: str, user: str) -> str:
    """The keyed hash naming the account of a channel user; SMS users by their E.164 number."""
    if channel == "sms":
        user = rules.normalize_mobile(user) or user.strip()
    return box.lookup_hash(f"{channel}:{user}", kind="account")


def phone_hash(box: SecretBox, phone: str) -> str:
    """The keyed hash a phone is known by (``keys.phone_*``); any accepted form of a mainland mobile gives the same."""
    return box.lookup_hash(rules.normalize_mobile(phone) or phone.strip(), kind="phone")


def clean_name(name: str) -> str:
    """A name as stored and compared: full-width folded (NFKC), spaces trimmed and collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name)).strip()


def check_name(name: str) -> str:
    """The cleaned name, or :class:`InvalidInputError` (reason ``length`` or ``format``)."""
    clean = clean_name(name)
    if not 1 <= len(clean) <= NAME_MAX_LENGTH:
        raise InvalidInputError("name", "length")
    if _NAME_FORBIDDEN.search(clean):
        raise InvalidInputError("name", "format")
    return clean


@dataclass(frozen=True)
class PatientView:
    """What may be shown of a patient: masks and hashes only, never clear personal data."""

    pid: str
    name_masked: str
    id_masked: str
    phone_masked: str
    phone_hash: str


MANAGED = "p:"
"""Prefix of an account hash's fields naming the patients it manages (the value: the order they were added in)."""
PHONE_OF = "f:"
"""Prefix of an SMS account hash's fields naming the patients whose verified phone it is (cross-channel)."""


def _linked(fields: dict[str, str], prefix: str) -> list[str]:
    """The pids of an account hash's fields with this prefix, in the order of their values."""
    found = [(int(value or 0), name[len(prefix) :]) for name, value in fields.items() if name.startswith(prefix)]
    return [pid for _, pid in sorted(found)]


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Field:
    """The stored field names of a patient hash (``keys.patient``) and of an account hash (``keys.account``).

    Short on purpose: a patient hash and two account hashes are kept for every patient, so every byte of a field
    name counts millions of times (``bench/footprint.py``). ``patients_add.lua`` and ``book.lua`` use the same names;
    ``bot.storage.migrate`` renames the long names of layout 1."""

    NAME_ENC = "n"
    ID_ENC = "i"
    PHONE_ENC = "p"
    PHONE_HASH = "ph"
    NAME_MASKED = "nm"
    ID_MASKED = "im"
    PHONE_MASKED = "pm"
    CREATED = "c"
    CHANNEL = "ch"
    ACTIVE = "a"
    """The order (``p:<pid>`` value) of the patient the account acts for by default."""


def _view(pid: str, fields: dict[str, str]) -> PatientView:
    return PatientView(
        pid=pid,
        name_masked=fields.get(Field.NAME_MASKED, ""),
        id_masked=fields.get(Field.ID_MASKED, ""),
        phone_masked=fields.get(Field.PHONE_MASKED, ""),
        phone_hash=fields.get(Field.PHONE_HASH, ""),
    )


class PatientService:
    """Patients, the accounts that manage them, and per-account and per-phone preferences."""

    def __init__(self, redis_client: redis.Redis, box: SecretBox, clock: Clock, policy: rules.Policy) -> None:
        self._redis = redis_client
        self._box = box
        self._clock = clock
        self._policy = policy
        self._scripts = Scripts(redis_client, "patients_add", "patients_remove", "patients_set_active")

    # --- adding ------------------------------------------------------------------------------------------
    def validate(self, name: str, id_number: str, phone: str) -> tuple[str, str, str]:
        """The cleaned (name, ID number, E.164 phone), or :class:`InvalidInputError` for the first bad field."""
        clean = check_name(name)
        today = self._clock.now().astimezone(self._policy.tz).date()
        check = rules.validate_id_number(id_number, today)
        if not check.valid or check.normalized is None:
            raise InvalidInputError("id_number", check.reason or "format")
        mobile = rules.normalize_mobile(phone)
        if mobile is None:
            raise InvalidInputError("phone", "format")
        return clean, check.normalized, mobile

    def add_patient(self, acct: str, channel: str, name: str, id_number: str, phone: str) -> PatientView:
        """Add a patient to an account; the same ID number is the same patient (its record kept).

        Call this only once ``phone`` is proven: an OTP sent to it was verified, or the user is talking from that
        very number over SMS. The phone becomes the patient's verified phone (replacing an older one, which stops
        acting for the patient), and the SMS account of that phone manages the patient too (cross-channel).
        Raises :class:`InvalidInputError` (a bad field, or a name that does not match the ID number already
        known) and :class:`TooManyPatientsError`; all checks and writes happen in one Lua script.
        """
        clean, id_norm, mobile = self.validate(name, id_number, phone)
        pid = self._box.lookup_hash(id_norm, kind="id")
        new_phone_hash = self._box.lookup_hash(mobile, kind="phone")
        sms_acct = account_id(self._box, "sms", mobile)
        now = int(self._clock.now().timestamp())  # epoch seconds: a small integer in a listpack
        for _ in range(_ADD_RETRIES):
            raw = self._redis.hmget(keys.patient(pid), [Field.PHONE_HASH, Field.PHONE_ENC, Field.NAME_ENC])
            stored_hash, phone_enc, name_enc = (_text(v) for v in raw)
            if name_enc is not None and clean_name(self._box.decrypt(name_enc, context=_NAME)) != clean:
                raise InvalidInputError("name", "mismatch")
            exists = name_enc is not None or stored_hash is not None
            expected = (stored_hash or "-") if exists else ""
            old_acct = (
                account_id(self._box, "sms", self._box.decrypt(phone_enc, context=_PHONE)) if phone_enc else sms_acct
            )
            result = self._scripts.run(
                "patients_add",
                keys=[keys.patient(pid), keys.account(acct), keys.account(sms_acct), keys.account(old_acct)],
                args=[
                    pid,
                    expected,
                    self._policy.max_patients_per_account,
                    now,
                    channel,
                    new_phone_hash,
                    "",
                    self._box.encrypt(clean, context=_NAME),
                    self._box.encrypt(id_norm, context=_ID),
                    self._box.encrypt(mobile, context=_PHONE),
                    rules.mask_name(clean),
                    rules.mask_id(id_norm),
                    rules.mask_phone(mobile),
                ],
            )
            status = [_text(v) for v in result]
            if status[0] == "full":
                raise TooManyPatientsError(self._policy.max_patients_per_account, status[1] or "account")
            if status[0] == "ok":
                view = self.get(pid)
                assert view is not None
                return view
        raise GuahaoError("the patient changed too often meanwhile; try again")  # pragma: no cover

    # --- reading -----------------------------------------------------------------------------------------
    def get(self, pid: str) -> PatientView | None:
        """The patient, or None."""
        fields = decode_hash(self._redis.hgetall(keys.patient(pid)))
        return _view(pid, fields) if fields else None

    def _views(self, pids: Sequence[str]) -> list[PatientView]:
        pipe = self._redis.pipeline(transaction=False)
        for pid in pids:
            pipe.hgetall(keys.patient(pid))
        return [_view(pid, decode_hash(raw)) for pid, raw in zip(pids, pipe.execute(), strict=True) if raw]

    def views(self, pids: Sequence[str]) -> list[PatientView]:
        """The patients of ``pids`` (those that exist), in that order: one round trip (for pids just read)."""
        return self._views(pids)

    def patient_ids(self, acct: str) -> list[str]:
        """The pids an account manages, in the order they were added."""
        return _linked(decode_hash(self._redis.hgetall(keys.account(acct))), MANAGED)

    def patients_of(self, acct: str) -> list[PatientView]:
        """The patients an account manages, in the order they were added."""
        return self._views(self.patient_ids(acct))

    def manages(self, acct: str, pid: str) -> bool:
        """Whether the account manages this patient (may book, list and cancel for it)."""
        return bool(self._redis.hexists(keys.account(acct), MANAGED + pid))

    def patients_of_phone(self, phone: str) -> list[PatientView]:
        """The patients whose verified phone this is."""
        fields = decode_hash(self._redis.hgetall(keys.account(account_id(self._box, "sms", phone))))
        return self._views(sorted(_linked(fields, PHONE_OF)))

    def active(self, acct: str) -> PatientView | None:
        """The patient the account acts for by default: the one chosen last, else the first added, else None."""
        fields = decode_hash(self._redis.hgetall(keys.account(acct)))
        active = fields.get(Field.ACTIVE)
        chosen = next((name for name, order in fields.items() if name.startswith(MANAGED) and order == active), None)
        if chosen:
            view = self.get(chosen[len(MANAGED) :])
            if view is not None:
                return view
        views = self._views(_linked(fields, MANAGED))
        return views[0] if views else None

    def set_active(self, acct: str, pid: str) -> None:
        """Make ``pid`` the account's active patient; :class:`UnknownPatientError` if the account does not manage it."""
        done = self._scripts.run("patients_set_active", keys=[keys.account(acct)], args=[pid])
        if not done:
            raise UnknownPatientError("not a patient of this account")

    def remove(self, acct: str, pid: str) -> None:
        """Stop this account managing ``pid`` (no-op if it does not); the patient record, its appointments and its
        standing stay, and other accounts keep it."""
        self._scripts.run("patients_remove", keys=[keys.account(acct)], args=[pid])

    # --- personal data, decrypted on demand --------------------------------------------------------------
    def _decrypt(self, pid: str, field: str, context: str) -> str:
        token = _text(self._redis.hget(keys.patient(pid), field))
        if token is None:
            raise UnknownPatientError("no such patient")
        return self._box.decrypt(token, context=context)

    def name_of(self, pid: str) -> str:
        """The patient's name in clear (for a reply to the account, never for logs)."""
        return self._decrypt(pid, Field.NAME_ENC, _NAME)

    def phone_of(self, pid: str) -> str:
        """The patient's verified phone, E.164."""
        return self._decrypt(pid, Field.PHONE_ENC, _PHONE)

    def id_number_of(self, pid: str) -> str:
        """The patient's ID number in clear."""
        return self._decrypt(pid, Field.ID_ENC, _ID)

    def person_of(self, pid: str) -> rules.Person:
        """The patient's birth date and sex (RULES §9), derived in memory from the encrypted ID number: neither is
        stored apart from it, so nothing new about the person is at rest in clear."""
        person = rules.person_from_id(self.id_number_of(pid))
        if person is None:  # pragma: no cover - add_patient stores valid ID numbers only
            raise UnknownPatientError("the stored ID number is not valid")
        return person

    # --- account and phone preferences -------------------------------------------------------------------
    def account_language(self, acct: str) -> str | None:
        """The language the account chose (``zh``/``en``), or None."""
        return _text(self._redis.hget(keys.account(acct), "language"))

    def set_account_language(self, acct: str, lang: str) -> None:
        """Remember the account's language."""
        self._redis.hset(keys.account(acct), "language", lang)

    def is_opted_out(self, phone_hash: str) -> bool:
        """Whether this phone opted out of reminders."""
        return bool(self._redis.exists(keys.phone_opt_out(phone_hash)))

    def set_opt_out(self, phone_hash: str, opted_out: bool) -> None:
        """Opt a phone out of reminders (TD/STOP, Twilio 21610), or back in (START)."""
        if opted_out:
            self._redis.set(keys.phone_opt_out(phone_hash), "1")
        else:
            self._redis.delete(keys.phone_opt_out(phone_hash))
