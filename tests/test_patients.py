"""Patients and accounts against a real Redis: validation, same ID = same patient, limits, cross-channel, no PII."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

import rules
from adapters.console.sender import ConsoleSender
from bot.clock import ManualClock
from bot.crypto import SecretBox
from bot.notifications.outbox import Outbox
from bot.otp import OtpService
from bot.patients import (
    InvalidInputError,
    PatientService,
    TooManyPatientsError,
    UnknownPatientError,
    account_id,
    phone_hash,
)
from bot.storage import keys
from tests.pii_scan import assert_no_pii


def make_id(first17: str) -> str:
    """A valid ID number from its first 17 digits."""
    return first17 + rules.id_check_digit(first17)


ID_A = make_id("11010519900307123")
ID_B = make_id("11010519850612456")
ID_C = make_id("32058319701225789")
PHONE_A = "13812345678"
PHONE_B = "13987654321"
WECHAT = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox("x" * 40)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 5, 6, 2, 0, tzinfo=UTC))


@pytest.fixture
def service(redis_db: redis.Redis, box: SecretBox, clock: ManualClock) -> PatientService:
    return PatientService(redis_db, box, clock, rules.build_policy())


@pytest.fixture
def acct(box: SecretBox) -> str:
    return account_id(box, "wechat", WECHAT)


def test_add_patient_happy_path(service: PatientService, acct: str, box: SecretBox) -> None:
    view = service.add_patient(acct, "wechat", " 张三 ", ID_A, PHONE_A)
    assert view.pid == box.lookup_hash(ID_A, kind="id")
    assert view.name_masked == "张*"
    assert view.id_masked == ID_A[:6] + "********" + ID_A[-4:]
    assert view.phone_masked == "138****5678"
    assert view.phone_hash == phone_hash(box, PHONE_A) == box.lookup_hash("+8613812345678", kind="phone")
    assert service.patients_of(acct) == [view]
    assert service.active(acct) == view
    assert service.get(view.pid) == view
    assert service.manages(acct, view.pid)
    assert service.name_of(view.pid) == "张三"
    assert service.phone_of(view.pid) == "+8613812345678"
    assert service.id_number_of(view.pid) == ID_A


def test_account_id_normalises_sms_users(box: SecretBox) -> None:
    forms = ["13812345678", "+8613812345678", "8613812345678", "+86 138-1234-5678"]
    assert len({account_id(box, "sms", form) for form in forms}) == 1
    assert account_id(box, "wechat", "13812345678") != account_id(box, "sms", "13812345678")


@pytest.mark.parametrize(
    ("name", "id_number", "phone", "field", "reason"),
    [
        ("", ID_A, PHONE_A, "name", "length"),
        ("   ", ID_A, PHONE_A, "name", "length"),
        ("张" * 31, ID_A, PHONE_A, "name", "length"),
        ("张3", ID_A, PHONE_A, "name", "format"),
        ("张三", ID_A[:17], PHONE_A, "id_number", "length"),
        ("张三", "11010519901307123X", PHONE_A, "id_number", "birth_date"),
        ("张三", ID_A[:17] + ("0" if ID_A[17] != "0" else "1"), PHONE_A, "id_number", "check_digit"),
        ("张三", ID_A, "12345678901", "phone", "format"),
        ("张三", ID_A, "1381234567", "phone", "format"),
    ],
)
def test_invalid_input(
    service: PatientService, acct: str, name: str, id_number: str, phone: str, field: str, reason: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        service.add_patient(acct, "wechat", name, id_number, phone)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert service.patients_of(acct) == []


def test_birth_date_in_the_future_is_refused(service: PatientService, acct: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        service.add_patient(acct, "wechat", "张三", make_id("11010520300101123"), PHONE_A)
    assert caught.value.reason == "birth_date"


def test_thirty_characters_and_full_width_input_are_accepted(service: PatientService, acct: str) -> None:
    full_width_id = ID_A.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    view = service.add_patient(acct, "wechat", "阿" * 30, full_width_id, "+86 138 1234 5678")
    assert service.id_number_of(view.pid) == ID_A
    assert service.phone_of(view.pid) == "+8613812345678"


def test_same_id_twice_is_the_same_patient(service: PatientService, box: SecretBox, acct: str) -> None:
    first = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    other = account_id(box, "wechat", "another-openid")
    again = service.add_patient(other, "wechat", "张三", ID_A.lower(), PHONE_A)
    assert again == first
    assert service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A) == first  # idempotent
    assert service.patients_of(acct) == [first]
    assert service.patients_of(other) == [first]


def test_lower_case_x_is_the_same_id(service: PatientService, acct: str) -> None:
    first17 = next(f"1101051990030712{i}" for i in range(10) if rules.id_check_digit(f"1101051990030712{i}") == "X")
    upper = service.add_patient(acct, "wechat", "李四", first17 + "X", PHONE_A)
    lower = service.add_patient(acct, "wechat", "李四", first17 + "x", PHONE_A)
    assert upper.pid == lower.pid
    assert service.id_number_of(upper.pid).endswith("X")


def test_same_id_with_another_name_is_refused(service: PatientService, box: SecretBox, acct: str) -> None:
    service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    other = account_id(box, "wechat", "another-openid")
    with pytest.raises(InvalidInputError) as caught:
        service.add_patient(other, "wechat", "王五", ID_A, PHONE_B)
    assert (caught.value.field, caught.value.reason) == ("name", "mismatch")
    assert service.patients_of(other) == []


def test_same_id_with_a_new_phone_moves_the_phone(service: PatientService, box: SecretBox, acct: str) -> None:
    view = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    sms_a = account_id(box, "sms", PHONE_A)
    assert service.patients_of(sms_a) == [view]
    moved = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_B)
    assert moved.pid == view.pid
    assert moved.phone_masked == "139****4321"
    assert service.phone_of(view.pid) == "+8613987654321"
    assert service.patients_of(account_id(box, "sms", PHONE_B)) == [moved]
    assert service.patients_of(sms_a) == []  # the old number no longer acts for the patient
    assert service.active(sms_a) is None
    assert service.patients_of_phone(PHONE_A) == []
    assert service.patients_of_phone("+86" + PHONE_B) == [moved]
    assert service.patients_of(acct) == [moved]


def test_max_patients_per_account(service: PatientService, acct: str) -> None:
    ids = [make_id(f"1101051990010{i}123") for i in range(1, 7)]
    views = [
        service.add_patient(acct, "wechat", "张三", id_number, PHONE_A if i % 2 else PHONE_B)
        for i, id_number in enumerate(ids[:2])
    ]
    views += [
        service.add_patient(acct, "wechat", "张三", id_number, f"1370000000{i}") for i, id_number in enumerate(ids[2:5])
    ]
    assert [v.pid for v in service.patients_of(acct)] == [v.pid for v in views]
    with pytest.raises(TooManyPatientsError) as caught:
        service.add_patient(acct, "wechat", "张三", ids[5], "13700000009")
    assert (caught.value.limit, caught.value.scope) == (5, "account")
    assert len(service.patients_of(acct)) == 5
    assert service.get(service._box.lookup_hash(ids[5], kind="id")) is None  # nothing written
    # a patient the account already manages can be added again (idempotent), even when full
    assert service.add_patient(acct, "wechat", "张三", ids[0], PHONE_B).pid == views[0].pid


def test_limit_applies_to_the_sms_account_of_the_phone(service: PatientService, box: SecretBox) -> None:
    # five WeChat accounts each add a patient with the same phone: the phone's SMS account then manages five
    for i in range(5):
        service.add_patient(
            account_id(box, "wechat", f"openid-{i}"), "wechat", "张三", make_id(f"1101051990020{i + 1}123"), PHONE_A
        )
    assert len(service.patients_of(account_id(box, "sms", PHONE_A))) == 5
    with pytest.raises(TooManyPatientsError) as caught:
        service.add_patient(account_id(box, "wechat", "openid-9"), "wechat", "张三", ID_C, PHONE_A)
    assert caught.value.scope == "phone"


def test_remove_keeps_the_record(service: PatientService, box: SecretBox, acct: str) -> None:
    a = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    b = service.add_patient(acct, "wechat", "李四", ID_B, PHONE_B)
    service.remove(acct, a.pid)
    assert service.patients_of(acct) == [b]
    assert service.active(acct) == b  # the removed one was active: the next one takes over
    assert service.get(a.pid) == a
    assert service.name_of(a.pid) == "张三"
    assert service.patients_of(account_id(box, "sms", PHONE_A)) == [a]  # other accounts keep it
    service.remove(acct, a.pid)  # no-op
    service.remove(acct, b.pid)
    assert service.patients_of(acct) == []
    assert service.active(acct) is None
    again = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    assert again == a
    assert service.active(acct) == a


def test_set_active(service: PatientService, box: SecretBox, acct: str) -> None:
    a = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    b = service.add_patient(acct, "wechat", "李四", ID_B, PHONE_B)
    assert service.active(acct) == a  # the first added stays active
    service.set_active(acct, b.pid)
    assert service.active(acct) == b
    stranger = service.add_patient(account_id(box, "wechat", "other"), "wechat", "王五", ID_C, "13700000000")
    with pytest.raises(UnknownPatientError):
        service.set_active(acct, stranger.pid)
    with pytest.raises(UnknownPatientError):
        service.set_active(acct, "no-such-pid")
    assert service.active(acct) == b
    assert service.patients_of(acct) == [a, b]


@pytest.mark.parametrize("given", ["13812345678", "+8613812345678", "8613812345678", "+86 138-1234-5678"])
@pytest.mark.parametrize("asked", ["13812345678", "+8613812345678", "8613812345678"])
def test_cross_channel(service: PatientService, box: SecretBox, acct: str, given: str, asked: str) -> None:
    view = service.add_patient(acct, "wechat", "张三", ID_A, given)
    sms = account_id(box, "sms", asked)
    assert service.patients_of(sms) == [view]
    assert service.active(sms) == view
    assert service.manages(sms, view.pid)
    assert service.patients_of_phone(asked) == [view]


def test_patient_added_over_sms_is_found_from_wechat_with_the_same_id(service: PatientService, box: SecretBox) -> None:
    sms = account_id(box, "sms", PHONE_A)
    view = service.add_patient(sms, "sms", "张三", ID_A, PHONE_A)  # proven: talking from that number
    assert service.patients_of(sms) == [view]
    wechat = account_id(box, "wechat", WECHAT)
    assert service.add_patient(wechat, "wechat", "张三", ID_A, PHONE_A) == view
    assert service.patients_of(sms) == [view]  # still once


def test_unknown_patient(service: PatientService) -> None:
    assert service.get("nope") is None
    for read in (service.name_of, service.phone_of, service.id_number_of):
        with pytest.raises(UnknownPatientError):
            read("nope")


def test_language_and_opt_out(service: PatientService, box: SecretBox, acct: str) -> None:
    assert service.account_language(acct) is None
    service.set_account_language(acct, "en")
    assert service.account_language(acct) == "en"
    ph = phone_hash(box, PHONE_A)
    assert not service.is_opted_out(ph)
    service.set_opt_out(ph, True)
    assert service.is_opted_out(phone_hash(box, "+86" + PHONE_A))
    service.set_opt_out(ph, False)
    assert not service.is_opted_out(ph)


def test_account_hash_records_channel_and_active(
    service: PatientService, redis_db: redis.Redis, acct: str, box: SecretBox
) -> None:
    view = service.add_patient(acct, "wechat", "张三", ID_A, PHONE_A)
    assert redis_db.hget(keys.account(acct), "ch") == b"wechat"
    assert redis_db.hget(keys.account(acct), "a") == b"1"  # the order of the active patient (bot.patients.Field)
    assert redis_db.hget(keys.account(account_id(box, "sms", PHONE_A)), "ch") == b"sms"
    assert redis_db.hget(keys.account(acct), f"p:{view.pid}") == b"1"  # one hash per account (bot.storage.keys)
    assert redis_db.hget(keys.account(account_id(box, "sms", PHONE_A)), f"f:{view.pid}") == b"1"


def test_no_personal_data_in_clear_anywhere(
    redis_db: redis.Redis, box: SecretBox, clock: ManualClock, service: PatientService
) -> None:
    policy = rules.build_policy()
    outbox = Outbox(redis_db, box, clock, policy.tz)
    otp = OtpService(redis_db, box, clock, policy, ConsoleSender(outbox))
    wechat = account_id(box, "wechat", WECHAT)
    people = [("张三", ID_A, PHONE_A), ("欧阳娜娜", ID_B, PHONE_B), ("王五", ID_C, "+8613700000000")]
    for name, id_number, phone in people:
        otp.send(phone, "add_patient")
        service.add_patient(wechat, "wechat", name, id_number, phone)
    service.add_patient(account_id(box, "sms", PHONE_B), "sms", "欧阳娜娜", ID_B, PHONE_A)  # moves a phone
    service.set_opt_out(phone_hash(box, PHONE_A), True)
    assert len(outbox.messages_for(PHONE_A)) == 1
    assert redis_db.dbsize() > 10
    assert_no_pii(redis_db, [value for person in people for value in person] + [WECHAT])


@pytest.mark.parametrize("kind", ["string", "hash", "set", "zset", "zset-score", "list", "stream", "key"])
def test_the_scanner_finds_planted_data(redis_db: redis.Redis, kind: str) -> None:
    planted = {
        "string": lambda: redis_db.set("k", f"x{ID_A}x"),
        "hash": lambda: redis_db.hset("k", "name", "张三"),
        "set": lambda: redis_db.sadd("k", "+8613812345678"),
        "zset": lambda: redis_db.zadd("k", {"8613812345678": 1}),
        "zset-score": lambda: redis_db.zadd("k", {"m": 13812345678}),
        "list": lambda: redis_db.rpush("k", ID_A.lower()),
        "stream": lambda: redis_db.xadd("k", {"to": "0086" + PHONE_A}),
        "key": lambda: redis_db.set(f"gh:patient:{PHONE_A}", "1"),
    }
    planted[kind]()
    with pytest.raises(AssertionError, match="personal data in clear"):
        assert_no_pii(redis_db, ["张三", ID_A, PHONE_A])
