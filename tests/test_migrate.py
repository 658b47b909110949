"""Key layout 2 (issue 16, a smaller Redis): data written by the layout-1 ``patients_add.lua`` (kept in
``tests/layout1``) is folded and renamed by ``bot.storage.migrate`` and then read and changed by the current code
exactly as before."""

from __future__ import annotations

from pathlib import Path

import redis

import rules
from bot.patients import account_id
from bot.storage import keys
from bot.storage.migrate import LAYOUT, migrate_layout
from tests.support import Services, id_number, patient_name, phone_number

LAYOUT1_ADD = (Path(__file__).parent / "layout1" / "patients_add.lua").read_text()


def _add_layout1(svc: Services, redis_db: redis.Redis, acct: str, n: int, phone: str) -> str:
    """Add patient ``n`` the way guahao did before layout 2 (its script, its keys and arguments)."""
    box = svc.box
    pid = box.lookup_hash(id_number(n), kind="id")
    ph = box.lookup_hash(phone, kind="phone")
    sms = account_id(box, "sms", phone)
    stored = redis_db.hget(keys.patient(pid), "phone_hash")
    old_ph = stored.decode() if stored else ph
    old_acct = (redis_db.hget(keys.patient(pid), "phone_acct") or sms.encode()).decode()

    def trio(a: str) -> list[str]:
        return [f"gh:account:{a}:patients", f"gh:account:{a}:patients-order", keys.account(a)]

    keys_ = [keys.patient(pid), *trio(acct)[:2], keys.account(acct), f"gh:phone:{ph}:patients", *trio(sms)]
    keys_ += [f"gh:phone:{old_ph}:patients", *trio(old_acct)]
    args = [pid, (stored.decode() if stored else ""), 5, "2026-11-23T08:00:00+08:00", "wechat", ph, sms]
    args += [
        box.encrypt(patient_name(n), context="patient.name"),
        box.encrypt(id_number(n), context="patient.id_number"),
    ]
    args += [box.encrypt(phone, context="patient.phone"), rules.mask_name(patient_name(n)), rules.mask_id(id_number(n))]
    args += [rules.mask_phone(phone)]
    assert redis_db.eval(LAYOUT1_ADD, len(keys_), *keys_, *args)[0] == b"ok"
    return pid


def test_layout1_data_reads_the_same_after_migration(svc: Services, redis_db: redis.Redis) -> None:
    family = account_id(svc.box, "wechat", "openid-family")
    phone = "+86" + phone_number(1)
    pids = [_add_layout1(svc, redis_db, family, n, phone) for n in (1, 2, 3)]
    redis_db.hset(keys.account(family), "active", pids[1])  # layout 1 kept the active pid itself
    assert redis_db.exists(
        f"gh:account:{family}:patients", f"gh:phone:{svc.box.lookup_hash(phone, kind='phone')}:patients"
    )

    changed = migrate_layout(redis_db)

    assert changed > 0 and redis_db.get(LAYOUT) == b"2"
    assert not redis_db.keys("gh:account:*:patients*") and not redis_db.keys("gh:phone:*:patients")
    assert svc.patients.patient_ids(family) == pids  # in the order they were added
    active = svc.patients.active(family)
    assert active is not None and active.pid == pids[1]
    assert [v.pid for v in svc.patients.patients_of_phone(phone)] == sorted(pids)
    assert svc.patients.name_of(pids[0]) == patient_name(1) and svc.patients.id_number_of(pids[2]) == id_number(3)
    assert svc.patients.get(pids[0]).phone_masked == rules.mask_phone(phone)  # type: ignore[union-attr]
    assert not redis_db.hexists(keys.patient(pids[0]), "phone_acct")
    # the current code changes migrated data: a new phone for patient 1 moves it off the old phone's SMS account
    new_phone = phone_number(9)
    svc.patients.add_patient(family, "wechat", patient_name(1), id_number(1), new_phone)
    assert [v.pid for v in svc.patients.patients_of_phone(phone)] == sorted(pids[1:])
    assert [v.pid for v in svc.patients.patients_of_phone(new_phone)] == [pids[0]]
    assert migrate_layout(redis_db) == 0  # once done, a cheap no-op


def test_a_new_deployment_has_nothing_to_migrate(svc: Services, redis_db: redis.Redis) -> None:
    svc.patient(1)
    before = {k: redis_db.type(k) for k in redis_db.keys("*")}
    assert migrate_layout(redis_db) == 0
    assert {k: redis_db.type(k) for k in redis_db.keys("*") if k != LAYOUT.encode()} == before
