"""What a process caches of the schedule (bot.schedule_cache) is never shown stale: a schedule imported by another
process, places booked by another, a slot dropped by the archive, and a Redis that lost its data and was imported
again are each seen by the very next message. Two sets of services on one real redis-server stand for two processes
(each has its own cache)."""

from __future__ import annotations

from datetime import timedelta

import redis

from bot.archive import Archive
from bot.schedule_cache import pinned
from bot.storage import keys
from bot.storage.scripts import Scripts
from tests.dialog_support import Chat
from tests.support import NOW, Services, clock, make_services, schedule_csv, slot_of

TOMORROW = NOW.date() + timedelta(days=1)


def _slots_of_tomorrow(chat: Chat) -> str:
    """From the menu to the slot question of 第一医院 内科 tomorrow: its listing."""
    chat.send("菜单")
    chat.send("1")  # 预约挂号
    assert "请选择第一医院的科室" in chat.send("1")
    assert "请选择内科的就诊日期" in chat.send("内科")
    return chat.send("1")


def _at_the_slot_question(svc: Services) -> Chat:
    """A verified patient's chat, at the slot question of 内科 tomorrow (the cache filled by the questions before)."""
    svc.patient(1, user="openid-cache")
    chat = Chat(svc, user="openid-cache")
    assert "1. dr-nk 08:00-12:00 普通 ¥5 余20" in _slots_of_tomorrow(chat)
    return chat


def test_a_schedule_imported_by_another_process_is_seen_by_the_next_message(
    svc: Services, redis_db: redis.Redis
) -> None:
    chat = _at_the_slot_question(svc)
    other = make_services(redis_db, clock=clock(svc))
    rows = schedule_csv(TOMORROW).splitlines()
    rows[0] += ",doctor_name"
    rows[1:] = [f"{row},{'李医生' if row.split(',')[2] == 'dr-nk' else row.split(',')[2]}" for row in rows[1:]]
    other.schedule.import_csv("\n".join(rows).replace(",20,5,", ",30,6,") + "\n")

    assert "1. 李医生 08:00-12:00 普通 ¥6 余30" in _slots_of_tomorrow(chat)


def test_places_booked_by_another_process_are_read_live(svc: Services, redis_db: redis.Redis) -> None:
    chat = _at_the_slot_question(svc)
    other = make_services(redis_db, clock=clock(svc))
    slot = slot_of("h1", "nk", TOMORROW)
    for n in range(2, 5):  # three places sold by the other process
        acct, patient = other.patient(n)
        other.booking.book(patient.pid, acct, "wechat", slot)
    assert "1. dr-nk 08:00-12:00 普通 ¥5 余17" in _slots_of_tomorrow(chat)


def test_a_slot_dropped_by_the_archive_is_not_read_from_the_cache(svc: Services, redis_db: redis.Redis) -> None:
    version = svc.redis.get(keys.SCHEDULE_VERSION)
    assert version is not None  # written by the import
    day = TOMORROW.isoformat()
    with pinned(version.decode()):
        assert [s.id for s in svc.schedule.slots("h1", "nk", day)] == [
            slot_of("h1", "nk", TOMORROW),
            slot_of("h1", "nk", TOMORROW, afternoon=True),
        ]
    clock(svc).advance(timedelta(days=400))
    Archive(svc.redis, svc.config, svc.clock).run()
    assert svc.redis.get(keys.SCHEDULE_VERSION) != version  # the archive dropped slots: a new version
    with pinned(version.decode()):  # a step that began before the archive ran: the slots are gone all the same
        assert svc.schedule.slots("h1", "nk", day) == []
        assert svc.schedule.slot(slot_of("h1", "nk", TOMORROW)) is None


def test_the_last_slot_of_a_day_takes_the_day_off_the_dates_with_the_version(svc: Services) -> None:
    """The archive's script drops a day's last slot, its date and the version in one step: a step that read the new
    version can never cache a date list that still has the day."""
    day = TOMORROW.isoformat()
    day_slots = [s.decode() for s in svc.redis.zrange(keys.slots_of_day("h1", day), 0, -1)]
    assert day.encode() in svc.redis.smembers(keys.schedule_dates("h1"))
    scripts = Scripts(svc.redis, "archive_slot")
    for n, slot_id in enumerate(day_slots, 1):
        department = svc.redis.hget(keys.slot(slot_id), "department").decode()  # type: ignore[union-attr]
        held = [keys.slot(slot_id), keys.slot_appointments(slot_id), keys.slots_of_day("h1", day)]
        held += [keys.slots_of_department_day("h1", department, day), keys.SCHEDULE_VERSION]
        assert scripts.run("archive_slot", [*held, keys.schedule_dates("h1")], [slot_id, f"v{n}", day]) == 1
        left = day.encode() in svc.redis.smembers(keys.schedule_dates("h1"))
        assert left == (n < len(day_slots)), f"after slot {n} of {len(day_slots)}"


def test_a_redis_that_lost_its_data_and_was_imported_again(svc: Services, redis_db: redis.Redis) -> None:
    chat = _at_the_slot_question(svc)
    redis_db.flushall()
    svc.patient(1, user="openid-cache")
    other = make_services(redis_db, clock=clock(svc))
    other.schedule.import_csv(schedule_csv(TOMORROW, capacity=7).replace("dr-nk,", "dr-a,"))
    assert "1. dr-a 08:00-12:00 普通 ¥5 余7" in _slots_of_tomorrow(chat)


def test_without_a_pinned_version_every_read_goes_to_redis(svc: Services, redis_db: redis.Redis) -> None:
    one = slot_of("h1", "nk", TOMORROW)
    assert svc.schedule.slot(one) is not None
    redis_db.hset(keys.slot(one), "fee_cents", "999")  # what only an import does: no new version
    found = svc.schedule.slot(one)
    assert found is not None and found.fee_cents == 999


def test_the_same_file_again_keeps_the_version_and_a_change_makes_a_new_one(svc: Services) -> None:
    version = svc.redis.get(keys.SCHEDULE_VERSION)
    svc.schedule.import_csv(schedule_csv(TOMORROW))  # what the svc fixture imported: nothing changes
    assert svc.redis.get(keys.SCHEDULE_VERSION) == version
    svc.schedule.import_csv(schedule_csv(TOMORROW).replace(",14:00,17:00,", ",14:30,17:00,", 1))  # a new slot
    changed = svc.redis.get(keys.SCHEDULE_VERSION)
    assert changed != version
    svc.schedule.import_csv(schedule_csv(TOMORROW).replace(",5\n", ",6\n", 1))  # a fee
    assert svc.redis.get(keys.SCHEDULE_VERSION) not in (version, changed)
