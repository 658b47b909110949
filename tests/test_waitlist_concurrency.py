"""The waitlist under real concurrency (RULES §10): threads and processes against a real redis-server.

A place is never both held and sold, places taken never exceed the capacity, each freed place goes to exactly one
patient, and a waiter who may no longer take a place is skipped without the place being lost."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis

import rules
from bot.booking import BookingRefused
from bot.clock import RedisClock
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from bot.waitlist import Entry
from tests.support import NOW, Services, make_services, slot_of
from tests.test_booking_concurrency import run_together
from tests.waitlist_worker import GO, READY, claim_all, offer_everything, sweep

TOMORROW = NOW.date() + timedelta(days=1)
SLOT = f"h1|nk|dr-w|{TOMORROW}|09:00"
CAPACITY = 10
HEADER = "hospital,department,doctor,level,date,start,end,capacity,fee\n"
CSV = f"{HEADER}h1,nk,dr-w,expert,{TOMORROW},09:00,10:00,{CAPACITY},50\n"


class Watch:
    """Samples the slot while others work: the places it accounts for never exceed its capacity."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.samples = 0
        self.worst: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            taken, free, held = (int(v or 0) for v in self.client.hmget(keys.slot(SLOT), "taken", "wl_free", "wl_held"))
            booked = self.client.zcard(keys.slot_appointments(SLOT))
            self.samples += 1
            if taken + free + held > CAPACITY or taken < 0 or free < 0 or held < 0:
                self.worst = [taken, free, held, int(booked)]

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def state(svc: Services) -> tuple[int, int, int, int, int]:
    """taken, wl_free, wl_held, places for sale, booked appointments of the slot."""
    stored = svc.schedule.slot(SLOT)
    assert stored is not None
    booked = [a for a in svc.store.many(svc.redis.zrange(keys.slot_appointments(SLOT), 0, -1))]
    live = sum(a.status == rules.AppointmentStatus.booked for a in booked)
    return stored.taken, stored.wl_free, stored.wl_held, stored.places_left, live


def fill_and_queue(svc: Services, waiters: int) -> tuple[list[str], list[Entry]]:
    """The slot booked full by patients 1..10, then ``waiters`` patients waiting (from 101)."""
    svc.schedule.import_csv(CSV)
    serials = []
    for n in range(1, CAPACITY + 1):
        acct, patient = svc.patient(n)
        serials.append(svc.booking.book(patient.pid, acct, "wechat", SLOT).serial)
    entries = []
    for n in range(101, 101 + waiters):
        acct, patient = svc.patient(n)
        entries.append(svc.waitlist.join(patient.pid, acct, "wechat", f"openid-{n}", SLOT).entry)
    return serials, entries


@pytest.fixture
def svc(redis_db: redis.Redis) -> Services:
    return make_services(redis_db)


def test_50_waiters_10_concurrent_cancellations_10_offers_held(svc: Services) -> None:
    serials, entries = fill_and_queue(svc, 50)
    bookers = [svc.patient(n) for n in range(201, 231)]
    sold: list[str] = []

    def cancel(serial: str) -> Callable[[], None]:
        def work() -> None:
            svc.booking.cancel(serial, "patient:wechat")
            svc.waitlist.offer_pending([SLOT])  # the cancel path's hook

        return work

    def book(acct: str, pid: str) -> Callable[[], None]:
        def work() -> None:
            for _ in range(20):  # keep trying while places come and go
                with contextlib.suppress(BookingRefused):
                    sold.append(svc.booking.book(pid, acct, "wechat", SLOT).serial)
                    return

        return work

    def sweeper() -> None:
        for _ in range(20):
            svc.waitlist.offer_pending()

    with Watch(svc.redis) as watch:
        run_together(
            [cancel(s) for s in serials] + [book(acct, p.pid) for acct, p in bookers] + [sweeper for _ in range(3)]
        )
    assert watch.samples > 0 and watch.worst == [], f"over capacity: {watch.worst}"
    assert sold == [], "a place freed for the waitlist was sold"
    statuses = [svc.waitlist.get(e.id).status for e in entries]  # type: ignore[union-attr]
    assert statuses[:10] == ["offered"] * 10, "the first ten, in the order they joined"
    assert statuses[10:] == ["waiting"] * 40
    assert state(svc) == (0, 0, 10, 0, 0)
    assert svc.redis.zcard(keys.WAITLIST_OFFERS) == 10


def test_claims_racing_expiries_give_each_place_to_exactly_one(svc: Services, redis_server: EmbeddedRedis) -> None:
    clock = RedisClock(svc.redis)
    clock.set(NOW)
    svc = make_services(svc.redis, clock=clock)
    serials, entries = fill_and_queue(svc, 30)
    for serial in serials:
        svc.booking.cancel(serial, "patient:wechat")
    assert svc.waitlist.offer_pending() == 10
    first_ten = entries[:10]
    hold = svc.waitlist.get(first_ten[0].id).hold_until  # type: ignore[union-attr]
    assert hold is not None
    claims = [(e.acct, e.id) for e in first_ten]
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        claimed = pool.starmap_async(claim_all, [(redis_server.url, claims[i::2], 0.05 * i) for i in range(2)])
        sweeps = pool.starmap_async(sweep, [(redis_server.url, 1.5) for _ in range(2)])
        while int(svc.redis.get(READY) or 0) < 4:
            time.sleep(0.01)
        clock.set(hold - timedelta(milliseconds=150))  # the holds lapse while the claims come in
        svc.redis.set(GO, time.time())
        outcomes = {k: v for part in claimed.get(timeout=120) for k, v in part.items()}
        sweeps.get(timeout=120)
    booked = {k: v for k, v in outcomes.items() if not v.startswith(("gone", "refused"))}
    assert len(outcomes) == 10
    for entry in first_ten:
        stored = svc.waitlist.get(entry.id)
        assert stored is not None
        if entry.id in booked:
            assert (stored.status, stored.serial) == ("booked", booked[entry.id])
        else:
            assert stored.status == "expired" and stored.serial == ""
    taken, free, held, for_sale, live = state(svc)
    assert (
        taken
        == live
        == len(booked)
        + sum(
            1
            for e in entries[10:]
            if svc.waitlist.get(e.id).status == "booked"  # type: ignore[union-attr]
        )
    )
    assert taken + free + held + for_sale == CAPACITY
    later = [svc.waitlist.get(e.id) for e in entries[10:]]
    assert sum(e is not None and e.status == "offered" for e in later) == held
    pids = [
        a.pid for a in svc.store.many(svc.redis.zrange(keys.slot_appointments(SLOT), 0, -1)) if a.status == "booked"
    ]
    assert len(pids) == len(set(pids)), "nobody holds two places"


def test_a_waiter_who_booked_that_day_elsewhere_is_skipped_under_load(svc: Services) -> None:
    serials, entries = fill_and_queue(svc, 20)
    skipped = entries[0::2][:5]  # five of the first ten book the same department that day elsewhere
    svc.schedule.import_csv(CSV.replace("09:00,10:00,10", "11:00,12:00,10").replace("dr-w", "dr-v"))
    elsewhere = SLOT.replace("dr-w", "dr-v").replace("09:00", "11:00")
    for entry in skipped:
        svc.booking.book(entry.pid, entry.acct, "wechat", elsewhere)
    run_together([lambda s=s: svc.booking.cancel(s, "patient:wechat") for s in serials])  # type: ignore[misc]
    run_together([lambda: svc.waitlist.offer_pending() for _ in range(4)])
    statuses = {e.id: svc.waitlist.get(e.id) for e in entries}
    assert all(statuses[e.id].status == "expired" for e in skipped)  # type: ignore[union-attr]
    assert all(statuses[e.id].reason == "limit_same_day_department" for e in skipped)  # type: ignore[union-attr]
    offered = [e for e in entries if statuses[e.id].status == "offered"]  # type: ignore[union-attr]
    assert len(offered) == 10, "no place lost"
    assert offered == [e for e in entries if e not in skipped][:10]
    assert state(svc) == (0, 0, 10, 0, 0)
    assert slot_of("h1", "nk", TOMORROW)  # the day's ordinary slots stay untouched


def test_a_worker_killed_while_offering_loses_no_place(svc: Services, redis_server: EmbeddedRedis) -> None:
    svc.schedule.import_csv(HEADER + f"h1,nk,dr-w,expert,{TOMORROW},09:00,10:00,400,50\n")
    serials = []
    for n in range(1, 401):
        acct, patient = svc.patient(n)
        serials.append(svc.booking.book(patient.pid, acct, "wechat", SLOT).serial)
    entries = []
    for n in range(1001, 1401):
        acct, patient = svc.patient(n)
        entries.append(svc.waitlist.join(patient.pid, acct, "wechat", f"openid-{n}", SLOT).entry)
    for serial in serials:
        svc.booking.cancel(serial, "patient:wechat")
    assert svc.schedule.slot(SLOT).wl_free == 400  # type: ignore[union-attr]
    process = multiprocessing.get_context("spawn").Process(target=offer_everything, args=(redis_server.url,))
    process.start()
    while not svc.redis.get(READY):
        time.sleep(0.005)
    while svc.schedule.slot(SLOT).wl_held < 50:  # type: ignore[union-attr]
        time.sleep(0.001)
    os.kill(process.pid or 0, signal.SIGKILL)  # mid-way through the release
    process.join()
    stored = svc.schedule.slot(SLOT)
    assert stored is not None and 0 < stored.wl_held < 400 and stored.wl_free + stored.wl_held == 400
    svc.waitlist.tick()  # another worker's periodic duty goes on
    statuses = [svc.waitlist.get(e.id).status for e in entries]  # type: ignore[union-attr]
    assert statuses == ["offered"] * 400, "every freed place held, once, in the order of joining"
    assert state(svc) == (0, 0, 400, 0, 0)
    assert svc.redis.zcard(keys.WAITLIST_OFFERS) == 400
