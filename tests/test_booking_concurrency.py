"""Nothing lost, nothing doubled: real threads and processes against a real redis-server, and a crash mid-run."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import rules
from bot.booking import BookingRefused
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.booking_worker import book_many
from tests.pii_scan import assert_no_pii
from tests.support import (
    NOW,
    Services,
    id_number,
    make_services,
    patient_name,
    phone_number,
    schedule_csv,
    slot_of,
)

TOMORROW = NOW.date() + timedelta(days=1)
SLOT = slot_of("h1", "nk", TOMORROW)


def run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker on its own thread at the same moment and wait for all."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrapped(work: Callable[[], None]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]


def assert_slot_consistent(svc: Services, slot: str, capacity: int) -> list[rules.AppointmentStatus]:
    appointments = svc.store.many(svc.redis.zrange(keys.slot_appointments(slot), 0, -1))
    live = [a for a in appointments if a.status == rules.AppointmentStatus.booked]
    stored = svc.schedule.slot(slot)
    assert stored is not None
    assert stored.taken == len(live) <= capacity
    queue = sorted(a.queue_no for a in appointments)
    assert queue == list(range(1, len(appointments) + 1)), "queue numbers without gaps or repeats"
    assert len({a.serial for a in appointments}) == len(appointments)
    return [a.status for a in appointments]


@pytest.fixture
def svc(redis_db: redis.Redis) -> Services:
    services = make_services(redis_db)
    services.schedule.import_csv(schedule_csv(TOMORROW, capacity=20))
    return services


def test_200_threads_on_a_slot_of_20(svc: Services) -> None:
    bookers = [svc.patient(n) for n in range(1, 201)]
    won: list[int] = []
    refused: Counter[str] = Counter()

    def book(acct: str, pid: str) -> Callable[[], None]:
        def work() -> None:
            try:
                won.append(svc.booking.book(pid, acct, "wechat", SLOT).queue_no)
            except BookingRefused as exc:
                refused[exc.decision.rule or ""] += 1

        return work

    run_together([book(acct, p.pid) for acct, p in bookers])
    assert sorted(won) == list(range(1, 21))
    assert refused == Counter({"slot_full": 180})
    assert svc.schedule.slot(SLOT).places_left == 0  # type: ignore[union-attr]
    assert assert_slot_consistent(svc, SLOT, 20) == [rules.AppointmentStatus.booked] * 20


def test_4_processes_on_a_slot_of_20(svc: Services, redis_server: EmbeddedRedis) -> None:
    bookers = [(p.pid, acct) for acct, p in (svc.patient(n) for n in range(1, 201))]
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(book_many, [(redis_server.url, bookers[i::4], SLOT) for i in range(4)])
    serials = [s for part in results for s in part]
    assert len(serials) == len(set(serials)) == 20
    assert_slot_consistent(svc, SLOT, 20)


def test_one_patient_racing_himself_never_passes_a_limit(svc: Services) -> None:
    acct, patient = svc.patient(1)
    same_day = [
        slot_of(h, d, TOMORROW, afternoon)
        for h, d in (("h1", "nk"), ("h1", "wk"), ("h1", "ek"), ("h2", "nk"))
        for afternoon in (False, True)
    ]
    targets = [same_day[i % len(same_day)] for i in range(10)]
    run_together([lambda s=s: _try(svc, patient.pid, acct, s) for s in targets])  # type: ignore[misc]
    mine = [a for a in svc.store.of_patient(patient.pid) if a.status == rules.AppointmentStatus.booked]
    assert len(mine) == 2, "limit_same_day"
    assert len({(a.hospital, a.department) for a in mine}) == 2, "limit_same_day_department"

    _, other = svc.patient(2)
    other_days = [slot_of("h1", "nk", TOMORROW + timedelta(days=d)) for d in range(1, 7)]
    run_together([lambda s=s: _try(svc, other.pid, acct, s) for s in other_days * 2])  # type: ignore[misc]
    assert len(svc.store.of_patient(other.pid)) == 3, "limit_7_days"


def _try(svc: Services, pid: str, acct: str, slot: str) -> None:
    with contextlib.suppress(BookingRefused):
        svc.booking.book(pid, acct, "wechat", slot)


def test_bookings_racing_hospital_cancellations_stay_consistent(svc: Services) -> None:
    early = [svc.patient(n) for n in range(1, 11)]
    booked = [svc.booking.book(p.pid, acct, "wechat", SLOT).serial for acct, p in early]
    late = [svc.patient(n) for n in range(11, 61)]

    def cancel(serial: str) -> Callable[[], None]:
        return lambda: svc.booking.cancel_by_hospital(serial, "staff:desk")

    won: list[str] = []

    def book(acct: str, pid: str) -> Callable[[], None]:
        def work() -> None:
            with contextlib.suppress(BookingRefused):  # full at that moment: a place may be returned later
                won.append(svc.booking.book(pid, acct, "wechat", SLOT).serial)

        return work

    run_together([cancel(s) for s in booked] + [book(a, p.pid) for a, p in late])
    statuses = Counter(assert_slot_consistent(svc, SLOT, 20))
    assert statuses[rules.AppointmentStatus.cancelled_by_hospital] == 10
    assert statuses[rules.AppointmentStatus.booked] == len(won) <= 20, "every sale counted once, never over"
    assert svc.schedule.slot(SLOT).places_left == 20 - statuses[rules.AppointmentStatus.booked]  # type: ignore[union-attr]
    # whatever the interleaving, the places returned can all be sold afterwards
    for acct, patient in late:
        if patient.pid not in {a.pid for a in svc.store.listing()}:
            _try(svc, patient.pid, acct, SLOT)
    assert Counter(assert_slot_consistent(svc, SLOT, 20))[rules.AppointmentStatus.booked] == 20


def test_acknowledged_bookings_survive_a_redis_crash(tmp_path: Path) -> None:
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    client = server.client(socket_timeout=2)
    svc = make_services(client)
    svc.schedule.import_csv(schedule_csv(TOMORROW, capacity=500, hospitals=("h1",)))
    patients = [svc.patient(n) for n in range(1, 401)]
    acknowledged: list[str] = []
    enough, killed = threading.Event(), threading.Event()

    def keep_booking() -> None:
        for acct, patient in patients:
            try:
                serial = svc.booking.book(patient.pid, acct, "wechat", SLOT).serial
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                return
            if killed.is_set():  # answered by the server started below (the client reconnects): not this run's
                return
            acknowledged.append(serial)
            if len(acknowledged) >= 150:
                enough.set()
        enough.set()

    booker = threading.Thread(target=keep_booking)
    booker.start()
    assert enough.wait(60)
    server.kill()  # SIGKILL mid-run
    killed.set()
    booker.join(30)
    assert not booker.is_alive(), "the booker stopped before the restart (else it books on the new server)"
    client.close()

    restarted = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    try:
        again = make_services(restarted.client())
        found = {a.serial for a in again.store.many(acknowledged)}
        assert len(acknowledged) >= 150
        assert found == set(acknowledged), "every acknowledged booking is there after the restart"
        assert again.schedule.slot(SLOT).taken >= len(acknowledged)  # type: ignore[union-attr]
        assert_slot_consistent(again, SLOT, 500)
    finally:
        restarted.stop()


def test_no_personal_data_in_clear_anywhere(svc: Services) -> None:
    bookers = [svc.patient(n) for n in range(1, 6)]
    serials = [svc.booking.book(p.pid, acct, "wechat", SLOT).serial for acct, p in bookers]
    svc.booking.cancel(serials[0], "patient:wechat")
    svc.standing.sweep_no_shows()
    secrets = [s for n in range(1, 6) for s in (id_number(n), phone_number(n), patient_name(n))]
    assert_no_pii(svc.redis, secrets)
