"""The release lottery (SPEC §8 "Release rush", RULES §8, §12) through the real pipeline on a real redis-server.

The clock is Monday 23 November 2026 just after 07:30 in Beijing: Monday 30 November is being released. The slot
``h1|nk|dr-nk|2026-11-30|08:00`` has 50 places. Patients talk to the bot on real threads through the booking
dialog (one engine, as the web app shares one); the draw runs in the worker's periodic tick.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import redis

import rules
from adapters.sms.webhook import sms_segments
from app.services import build_engine
from bot.audit import AuditEntry, read_audit
from bot.clock import ManualClock
from bot.config import build_config
from bot.jobs import run_periodic
from bot.patients import account_id
from bot.storage import keys
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from tests.pii_scan import assert_no_pii
from tests.support import (
    CONFIG_RAW,
    SHANGHAI,
    Services,
    id_number,
    make_services,
    patient_name,
    phone_number,
)
from texts import CATALOG, text

VISIT = date(2026, 11, 30)
OPENS = datetime(2026, 11, 23, 7, 30, tzinfo=SHANGHAI)
SLOT = f"h1|nk|dr-nk|{VISIT}|08:00"
OTHER = f"h1|nk|dr-nk-x|{VISIT}|14:00"
DRAW = f"h1|{VISIT}"
CAPACITY = 50
PATIENTS = 500
WAVE = 50
_ids = itertools.count(1)
STEPS = ("1", "1", "内科", "1", "1", "Y")
"""Menu → book, hospital 1, 内科, the one date, the first slot, yes."""


def lottery_services(redis_db: redis.Redis, mode: str = "lottery", **policy: Any) -> Services:
    raw = dict(CONFIG_RAW)
    raw["policy"] = {"release_mode": mode, "lottery_window_seconds": 60, **policy}
    svc = make_services(redis_db, build_config(raw), ManualClock(OPENS + timedelta(seconds=5)))
    svc.schedule.import_csv(
        "hospital,department,doctor,level,date,start,end,capacity,fee\n"
        f"h1,nk,dr-nk,general,{VISIT},08:00,12:00,{CAPACITY},5\n"
        f"h1,nk,dr-nk-x,expert,{VISIT},14:00,17:00,5,50\n"
    )
    return svc


def add_patients(svc: Services, count: int) -> dict[int, str]:
    """Patients 1..count, each verified on a WeChat account of their own; n -> pid."""
    return {n: svc.patient(n)[1].pid for n in range(1, count + 1)}


def talk(engine: Engine, user: str, steps: tuple[str, ...] = STEPS, channel: Channel = Channel.wechat) -> str:
    """One patient's whole conversation; the last reply."""
    reply = ""
    for typed in steps:
        reply = "\n\n".join(o.text for o in engine.handle(Inbound(channel, user, typed, f"m{next(_ids)}")))
    return reply


def in_waves(engine: Engine, users: list[str]) -> dict[str, str]:
    """Everyone talks on a thread of their own, ``WAVE`` at a time: a wave starts once the one before has its
    replies, so that arrival order is known wave by wave. user -> last reply."""
    replies: dict[str, str] = {}
    errors: list[BaseException] = []

    def one(user: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            replies[user] = talk(engine, user)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    for start in range(0, len(users), WAVE):
        wave = users[start : start + WAVE]
        barrier = threading.Barrier(len(wave))
        threads = [threading.Thread(target=one, args=(u, barrier)) for u in wave]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors[:3]
    return replies


def booked_in(svc: Services, slot: str = SLOT) -> list[Any]:
    """The live appointments of a slot, by queue number."""
    found = svc.store.many(svc.redis.zrange(keys.slot_appointments(slot), 0, -1))
    return sorted((a for a in found if a.status == rules.AppointmentStatus.booked), key=lambda a: a.queue_no)


def drawn_entries(svc: Services) -> list[AuditEntry]:
    return [e for e in read_audit(svc.redis) if e.action == "lottery_drawn"]


def lottery_outbox(svc: Services) -> list[dict[str, str]]:
    _, messages = svc.outbox.since("0-0", count=100_000)
    return [m for m in messages if m["kind"] == "lottery"]


def end_window(svc: Services, capacity: int | None = None) -> None:
    """Move the clock to the window's end (the slot's capacity changed first, if given)."""
    if capacity is not None:
        svc.redis.hset(keys.slot(SLOT), "capacity", capacity)
    assert isinstance(svc.clock, ManualClock)
    svc.clock.set(OPENS + timedelta(seconds=60))


# --- must show: 500 patients, 50 places ----------------------------------------------------------------------------


def test_500_patients_in_a_60_second_window_for_50_places(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    pids = add_patients(svc, PATIENTS)
    users = [f"openid-{n}" for n in range(1, PATIENTS + 1)]
    replies = in_waves(build_engine(svc), users)

    assert all("已登记抽签" in replies[u] for u in users), [r for r in replies.values() if "已登记抽签" not in r][:2]
    assert svc.schedule.slot(SLOT).taken == 0, "nothing is booked inside the window"  # type: ignore[union-attr]

    end_window(svc)
    tick = run_periodic(svc)  # the worker's periodic duty draws and tells
    assert tick.lottery_told == PATIENTS

    booked = booked_in(svc)
    assert len(booked) == CAPACITY and svc.schedule.slot(SLOT).taken == CAPACITY  # type: ignore[union-attr]
    assert len({a.pid for a in booked}) == CAPACITY, "each patient at most once"
    every = [a for pid in pids.values() for a in svc.store.of_patient(pid)]
    assert max(Counter(a.pid for a in every).values()) == 1

    # the order is the audited seed's: recomputed from the audit entry alone
    [entry] = drawn_entries(svc)
    audit = json.loads(entry.detail)
    assert audit["entrants"] == sorted(rules.entrant_hash(DRAW, pid) for pid in pids.values())
    assert rules.draw_order(audit["entrants"], audit["seed"]) == audit["order"]
    assert [rules.entrant_hash(DRAW, a.pid) for a in booked] == audit["order"][:CAPACITY] == audit["drawn"]

    # every registrant told, once, on their channel; the winners' reminders scheduled
    told = lottery_outbox(svc)
    assert sorted(m["to"] for m in told) == sorted(users)
    by_user = {m["to"]: m["text"] for m in told}
    winners = {f"openid-{n}" for n, pid in pids.items() if pid in {a.pid for a in booked}}
    for appointment in booked:
        user = next(u for u in winners if pids[int(u.removeprefix("openid-"))] == appointment.pid)
        assert f"识别码 {appointment.serial}" in by_user[user] and "抽中" in by_user[user]
        assert svc.reminders.pending(appointment.serial), "the normal reminders follow"
    assert all("未抽中" in text for user, text in by_user.items() if user not in winners)
    assert not svc.redis.exists(keys.lottery_untold("h1", VISIT.isoformat()))
    assert not svc.redis.zcard(keys.LOTTERY_DUE)

    # after the window: first-come as before
    svc.patient(PATIENTS + 1)
    assert "预约成功" in talk(build_engine(svc), f"openid-{PATIENTS + 1}", ("1", "1", "内科", "1", "2", "Y"))


def test_the_same_run_first_come_gives_the_places_in_arrival_order(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db, mode="first_come")
    pids = add_patients(svc, PATIENTS)
    users = [f"openid-{n}" for n in range(1, PATIENTS + 1)]
    replies = in_waves(build_engine(svc), users)

    booked = booked_in(svc)
    first_wave = {pids[n] for n in range(1, WAVE + 1)}
    assert len(booked) == CAPACITY and {a.pid for a in booked} == first_wave, "the first to arrive got the places"
    assert all("预约成功" in replies[f"openid-{n}"] for n in range(1, WAVE + 1))
    commits = [e.serial for e in read_audit(svc.redis) if e.action == "booked"]
    assert [a.serial for a in booked] == commits, "queue numbers in the order the bookings arrived"
    assert not drawn_entries(svc) and not lottery_outbox(svc) and not svc.redis.zcard(keys.LOTTERY_DUE)


# --- the draw: idempotent, once, nobody lost -----------------------------------------------------------------------


def register(svc: Services, engine: Engine, ns: range) -> None:
    for n in ns:
        assert "已登记抽签" in talk(engine, f"openid-{n}")


def test_running_the_draw_again_doubles_nothing(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 60)
    register(svc, build_engine(svc), range(1, 61))
    end_window(svc)
    assert svc.lottery.draw("h1", VISIT.isoformat())  # drawn, nobody told yet (as if the worker died right here)
    assert len(booked_in(svc)) == CAPACITY and not lottery_outbox(svc)
    for _ in range(3):
        assert svc.lottery.draw("h1", VISIT.isoformat())
        run_periodic(svc)
        svc.lottery.tell("h1", VISIT.isoformat())
    assert len(booked_in(svc)) == CAPACITY and svc.schedule.slot(SLOT).taken == CAPACITY  # type: ignore[union-attr]
    assert len(drawn_entries(svc)) == 1
    assert len([e for e in read_audit(svc.redis) if e.action == "booked"]) == CAPACITY
    assert Counter(m["to"] for m in lottery_outbox(svc)) == Counter(f"openid-{n}" for n in range(1, 61))


def test_draws_racing_each_other_commit_once(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 60)
    register(svc, build_engine(svc), range(1, 61))
    end_window(svc)
    others = [make_services(redis_db, svc.config, svc.clock) for _ in range(4)]
    barrier = threading.Barrier(len(others))
    results: list[bool] = []

    def draw(s: Services) -> None:
        barrier.wait()
        results.append(s.lottery.draw("h1", VISIT.isoformat()))

    threads = [threading.Thread(target=draw, args=(s,)) for s in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [True] * 4
    assert len(drawn_entries(svc)) == 1 and len(booked_in(svc)) == CAPACITY


def test_places_taken_by_the_waitlist_while_the_draw_is_decided_are_not_given(redis_db: redis.Redis) -> None:
    """The draw decides on one read of the slots and commits in a script: a place that went to the waitlist in
    between (freed for a waiter or held for one) is not for sale, so the script refuses and the draw decides again."""
    svc = lottery_services(redis_db)
    add_patients(svc, 60)
    register(svc, build_engine(svc), range(1, 61))
    end_window(svc)
    read_slots = svc.lottery._slots
    reads = itertools.count()

    def slots_then_the_waitlist_moves(slot_ids: set[str]) -> dict[str, Any]:
        found = read_slots(slot_ids)
        if next(reads) == 0:  # another process, between this draw's read and its commit
            svc.redis.hset(keys.slot(SLOT), mapping={"wl_free": 4, "wl_held": 6})
        return found

    svc.lottery._slots = slots_then_the_waitlist_moves  # type: ignore[method-assign]
    assert svc.lottery.draw("h1", VISIT.isoformat())
    assert next(reads) == 2  # decided twice: the first commit was refused
    assert len(booked_in(svc)) == CAPACITY - 10
    assert svc.schedule.slot(SLOT).taken == CAPACITY - 10  # type: ignore[union-attr]


def test_the_first_request_after_the_window_runs_the_draw_first(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 61)
    engine = build_engine(svc)
    register(svc, engine, range(1, 61))
    end_window(svc)
    late = talk(engine, "openid-61")  # before any worker tick: the drawn 50 are booked before this one
    assert "该时段刚刚约满" in late
    assert len(drawn_entries(svc)) == 1
    assert "openid-61" not in {m["to"] for m in lottery_outbox(svc)}
    [late_patient] = svc.patients.patients_of(account_id(svc.box, "wechat", "openid-61"))
    assert late_patient.pid not in {a.pid for a in booked_in(svc)}


# --- anti-scalping -------------------------------------------------------------------------------------------------


def test_one_entry_per_patient_per_slot(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 1)
    engine = build_engine(svc)
    assert "已登记抽签" in talk(engine, "openid-1")
    assert "已登记过这个时段的抽签" in talk(engine, "openid-1")
    entries = svc.redis.hlen(keys.lottery_entries("h1", VISIT.isoformat()))
    assert entries == 1


def test_an_account_beyond_its_limit_is_not_entered(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db, max_patients_per_account=2, rate_limit_per_minute=100)
    acct = account_id(svc.box, "wechat", "scalper")
    engine = build_engine(svc)
    added = [svc.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone_number(n)) for n in (1, 2)]
    for option in ("1", "2"):
        assert "已登记抽签" in talk(engine, "scalper", ("1", option, "1", "内科", "1", "1", "Y"))
    svc.patients.remove(acct, added[0].pid)  # make room for a third identity, and enter it too
    svc.patients.add_patient(acct, "wechat", patient_name(3), id_number(3), phone_number(3))
    refused = talk(engine, "scalper", ("1", "2", "1", "内科", "1", "1", "Y"))
    assert "登记的就诊人已达上限" in refused
    assert svc.redis.hlen(keys.lottery_entries("h1", VISIT.isoformat())) == 2


def test_a_phone_beyond_its_limit_is_not_entered(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db, max_patients_per_account=2)
    phone = phone_number(7)
    sms_acct = account_id(svc.box, "sms", "+86" + phone)

    def add(n: int, user: str) -> str:
        acct = account_id(svc.box, "wechat", user)
        return svc.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone).pid

    first = add(1, "openid-a")
    add(2, "openid-b")
    svc.patients.remove(sms_acct, first)  # the phone's own account lets go of one, so a third can be added
    add(3, "openid-c")
    engine = build_engine(svc)
    assert "已登记抽签" in talk(engine, "openid-a")
    assert "已登记抽签" in talk(engine, "openid-b")
    assert "同一手机号的就诊人" in talk(engine, "openid-c")


def test_a_flagged_patient_is_refused_and_one_flagged_later_is_not_entered(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    pids = add_patients(svc, 3)
    engine = build_engine(svc)
    svc.standing.flag(pids[1], date(2027, 1, 1), "scalping", "staff:desk")
    assert "已登记抽签" not in talk(engine, "openid-1")
    register(svc, engine, range(2, 4))
    svc.standing.flag(pids[3], date(2027, 1, 1), "scalping", "staff:desk")  # flagged inside the window
    end_window(svc)
    run_periodic(svc)
    assert [a.pid for a in booked_in(svc)] == [pids[2]]
    audit = json.loads(drawn_entries(svc)[0].detail)
    assert audit["entrants"] == [rules.entrant_hash(DRAW, pids[2])] and audit["not_entered"] == 1
    told = {m["to"]: m["text"] for m in lottery_outbox(svc)}
    assert set(told) == {"openid-2", "openid-3"} and "未参加抽签" in told["openid-3"]


def test_limits_are_rechecked_at_the_draw(redis_db: redis.Redis) -> None:
    """A patient entered for both slots of one department and day gets at most one (one place per patient)."""
    svc = lottery_services(redis_db)
    add_patients(svc, 1)
    engine = build_engine(svc)
    assert "已登记抽签" in talk(engine, "openid-1")
    assert "已登记抽签" in talk(engine, "openid-1", ("1", "1", "内科", "1", "2", "Y"))
    end_window(svc)
    run_periodic(svc)
    assert len(booked_in(svc)) + len(booked_in(svc, OTHER)) == 1


def test_an_sms_registrant_is_told_by_sms(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    phone = "+86" + phone_number(1)
    svc.patient(1, channel="sms", user=phone)
    reply = talk(build_engine(svc), phone, ("预约", "1", "内科", "1", "1", "Y"), Channel.sms)
    assert "已登记抽签" in reply, reply
    end_window(svc)
    run_periodic(svc)
    [told] = lottery_outbox(svc)
    assert (told["channel"], told["to"]) == ("sms", phone) and "识别码" in told["text"]
    assert sms_segments(reply.split("\n\n")[0]) <= 2 and sms_segments(told["text"]) <= 2
    assert_no_pii(svc.redis, [patient_name(1), id_number(1), phone_number(1)])


def test_my_appointments_lists_registrations_awaiting_the_draw(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 2)
    engine = build_engine(svc)
    assert "已登记抽签" in talk(engine, "openid-1")
    talk(engine, "openid-2", ("English",))
    assert "Entered in the draw" in talk(engine, "openid-2", ("1", "1", "1", "1", "2", "Y"))
    listing = talk(engine, "openid-1", ("我的预约",))
    assert "您目前没有待就诊的预约。" in listing and "待抽签(1个):" in listing, listing
    assert "张* 11月30日 周一 08:00-12:00 内科 dr-nk,11月23日 周一 07:31 后公布结果" in listing
    listing = talk(engine, "openid-2", ("my appointments",))
    assert "Awaiting the draw (1):" in listing, listing
    assert "Zhang* Mon 30 Nov 14:00-17:00 Neike dr-nk-x: result after Mon 23 Nov 07:31" in listing
    end_window(svc)
    listing = talk(engine, "openid-1", ("我的预约",))  # the window over, the draw not run yet: no time in the past
    assert "张* 11月30日 周一 08:00-12:00 内科 dr-nk,正在抽签,结果稍后通知您" in listing, listing
    assert "being drawn now, you will be told the result shortly" in talk(engine, "openid-2", ("my appointments",))
    run_periodic(svc)
    listing = talk(engine, "openid-1", ("我的预约",))
    assert "待抽签" not in listing and "您有1个待就诊预约:" in listing, "drawn: the appointment instead"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_lottery_text_fits_two_sms_segments_with_the_longest_names(lang: str) -> None:
    values = {
        "patient": "欧阳**" if lang == "zh" else "Ouyang **",
        "visit": "11月30日 周一 08:00-12:00" if lang == "zh" else "Mon 30 Nov 08:00-12:00",
        "doctor": "欧阳娜娜" if lang == "zh" else "Ouyang Nana",
        "place": "北京儿童示范医院(北京市西城区南礼士路56号)" if lang == "zh" else "Beijing Children's Model Hospital",
        "hospital": "北京儿童示范医院" if lang == "zh" else "Beijing Children's Model Hospital",
        "department": "小儿内科" if lang == "zh" else "Paediatric Medicine",
        "day": "11月30日" if lang == "zh" else "30 Nov",
        "results": "11月23日 周一 07:31" if lang == "zh" else "Mon 23 Nov 07:31",
        "retry": "11月23日 周一 07:31" if lang == "zh" else "Mon 23 Nov 07:31",  # a move refused until the draw
        "deadline": "11月29日 周日 15:00" if lang == "zh" else "Sun 29 Nov 15:00",
        "seconds": 3600,
        "position": 12345,
        "queue": 999,
        "serial": "12345678",
        "count": 99,
    }
    too_long = [
        (key, sms_segments(t), t)
        for key in CATALOG
        if "lottery" in key and not key.startswith("sms_template.") and sms_segments(t := text(lang, key, **values)) > 2
    ]
    assert not too_long, too_long


# --- the staff view -----------------------------------------------------------------------------------------------


def test_the_staff_view_shows_entrants_masked_drawn_and_the_seed(redis_db: redis.Redis) -> None:
    from app.web import create_app
    from tests.support import STAFF_TOKEN

    svc = lottery_services(redis_db)
    add_patients(svc, 3)
    register(svc, build_engine(svc), range(1, 4))
    http = create_app(svc).test_client()
    headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    url = f"/api/staff/lottery?date={VISIT}&hospital=h1&department=nk"
    before: Any = http.get(url, headers=headers).json
    assert before["drawn"] is False and before["seed"] is None and len(before["entrants"]) == 3
    end_window(svc)
    run_periodic(svc)
    after: Any = http.get(url, headers=headers).json
    assert after["drawn"] is True and after["seed"] == json.loads(drawn_entries(svc)[0].detail)["seed"].__str__()
    rows = after["entrants"]
    assert sorted(r["position"] for r in rows) == [1, 2, 3] and all(r["drawn"] and r["entered"] for r in rows)
    assert all(r["patient_name_masked"].startswith("张") and "*" in r["patient_name_masked"] for r in rows)
    assert all(patient_name(n) not in json.dumps(after, ensure_ascii=False) for n in (1, 2, 3))
    other: Any = http.get(f"/api/staff/lottery?date={VISIT}&hospital=h1&department=wk", headers=headers).json
    assert other["entrants"] == []
    assert http.get("/api/staff/lottery?date=2026-13-01&hospital=h1", headers=headers).status_code == 400
    assert http.get(f"/api/staff/lottery?date={VISIT}&hospital=h9", headers=headers).status_code == 400


@pytest.mark.parametrize("mode", ["lottery", "first_come"])
def test_check_config_says_how_days_are_released(mode: str) -> None:
    from app.cli import release_summary

    raw = dict(CONFIG_RAW)
    raw["policy"] = {"release_mode": mode}
    summary = release_summary(build_config(raw))
    assert summary.startswith("lottery, 60 s window from 07:30" if mode == "lottery" else "first-come from 07:30")


class _FailingOnce:
    """The console sender behind a network that fails the first send (a provider outage), then recovers."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.failed = False

    def send(self, message: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectionError("provider unreachable")
        return self.real.send(message)


def test_a_registrant_whose_notice_failed_is_told_at_the_next_tick(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 60)
    register(svc, build_engine(svc), range(1, 61))
    end_window(svc)
    svc.notifier.senders["wechat"] = _FailingOnce(svc.notifier.senders["wechat"])
    first = run_periodic(svc)
    assert first.lottery_told == 59 and svc.redis.scard(keys.lottery_untold("h1", VISIT.isoformat())) == 1
    assert svc.redis.zcard(keys.LOTTERY_DUE) == 1, "the draw stays due until everyone is told"
    second = run_periodic(svc)
    assert second.lottery_told == 1 and not svc.redis.zcard(keys.LOTTERY_DUE)
    assert Counter(m["to"] for m in lottery_outbox(svc)) == Counter(f"openid-{n}" for n in range(1, 61))


class _Unreachable:
    """WeChat as it answers for a user out of the 48-hour window (errcode 45015): the notice must go by SMS."""

    def send(self, message: Any) -> Any:
        from bot.notifications.outbox import SendResult

        return SendResult(ok=False, error="unreachable")


def test_english_registrants_are_answered_and_told_in_english_and_by_sms_when_wechat_cannot_reach_them(
    redis_db: redis.Redis,
) -> None:
    svc = lottery_services(redis_db)
    add_patients(svc, 2)
    engine = build_engine(svc)
    for n in (1, 2):
        talk(engine, f"openid-{n}", ("English",))
        reply = talk(engine, f"openid-{n}", ("1", "1", "1", "1", "1", "Y"))
        assert "Entered in the draw" in reply and "07:31" in reply, reply
    svc.notifier.senders["wechat"] = _Unreachable()
    end_window(svc, capacity=1)
    run_periodic(svc)
    told = lottery_outbox(svc)
    assert sorted(m["to"] for m in told) == sorted("+86" + phone_number(n) for n in (1, 2)), "by SMS instead"
    texts = sorted(m["text"] for m in told)
    assert texts[0].startswith("[Draw result] ") and texts[1].startswith("[Draw result] ")
    assert sum("got a place" in t for t in texts) == 1 and sum("no place for you" in t for t in texts) == 1
