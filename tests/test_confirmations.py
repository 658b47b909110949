"""Booking confirmations go out through one batch job (bot.reminders): a rush of bookings queues one job, not one
per booking, and every booking is confirmed exactly once — with a real ``guahao worker`` running beside the
bookings, and through a SIGKILL of the worker in the middle of a batch."""

from __future__ import annotations

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from app.worker import run_worker
from bot.clock import ManualClock, RedisClock
from bot.reminders import CLAIM_LEASE, Reminders
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, Services, make_services, schedule_csv, slot_of
from tests.test_worker import config_toml, process, wait_for

VISIT = NOW.date() + timedelta(days=2)
SLOTS = [slot_of("h1", d, VISIT, pm) for d in ("nk", "wk", "ek") for pm in (False, True)]


def rush_services(redis_db: redis.Redis, capacity: int) -> Services:
    clock = RedisClock(redis_db)  # one clock for this process and the worker's
    clock.set(NOW)
    svc = make_services(redis_db, clock=clock)
    svc.schedule.import_csv(schedule_csv(VISIT, days=1, capacity=capacity, hospitals=("h1",)))
    return svc


def book(svc: Services, people: range, threads: int = 8) -> None:
    """Each of ``people`` books on WeChat as the dialog does (the booking, then ``on_booked``), ``threads`` at once."""

    def one(n: int) -> None:
        acct, patient = svc.patient(n)
        appointment = svc.booking.book(patient.pid, acct, "wechat", SLOTS[n % len(SLOTS)])
        svc.reminders.on_booked(appointment, f"openid-{n}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, people))


def confirmations(svc: Services) -> Counter[str]:
    """How many confirmations each recipient got."""
    _, messages = svc.outbox.since("0-0", count=1_000_000)
    return Counter(m["to"] for m in messages if m["kind"] == "confirmation")


def queued_jobs(svc: Services) -> list[str]:
    return [job_id for job_id in svc.reminders.queue.get_job_ids() if job_id.startswith("confirmations-")]


def test_a_rush_of_bookings_queues_one_job_that_confirms_everyone_once(redis_db: redis.Redis) -> None:
    svc = rush_services(redis_db, capacity=100)
    book(svc, range(1, 301))
    assert len(queued_jobs(svc)) == 1, "one job for the whole rush (no worker has taken it yet)"
    assert redis_db.llen(keys.CONFIRMATIONS_WAITING) == 300
    run_worker(svc, burst=True)
    assert confirmations(svc) == Counter({f"openid-{n}": 1 for n in range(1, 301)})
    assert not redis_db.exists(keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB)
    assert redis_db.zcard(keys.REMINDERS_CLAIMED) == 0
    book(svc, range(301, 303), threads=1)
    assert len(queued_jobs(svc)) == 1, "the job ended with nothing left: the next booking queued a new one"


def finished_jobs(svc: Services) -> list[str]:
    registry = FinishedJobRegistry(queue=svc.reminders.queue)
    return [job_id for job_id in registry.get_job_ids() if job_id.startswith("confirmations-")]


def test_a_job_whose_time_is_up_hands_the_rest_to_a_successor(redis_db: redis.Redis) -> None:
    svc = rush_services(redis_db, capacity=100)
    book(svc, range(1, 121))
    svc.reminders.confirmations.job_seconds = 0  # each job sends one batch (50), then hands over
    run_worker(svc, burst=True)
    assert confirmations(svc) == Counter({f"openid-{n}": 1 for n in range(1, 121)})
    assert len(finished_jobs(svc)) == 4, "50, 50 and 20, each then handing over; the fourth finds none"
    assert not redis_db.exists(keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB)


def test_an_unexpected_error_puts_the_untried_rest_back_for_a_successor(redis_db: redis.Redis) -> None:
    """One appointment's record is malformed (its queue number), so its confirmation raises: that one keeps its claim
    for the single-job retry; the rest of its batch is not left to the claims' 10-minute lapse."""
    svc = rush_services(redis_db, capacity=100)
    book(svc, range(1, 31), threads=1)
    broken = svc.store.many(redis_db.zrange(keys.ALL_APPOINTMENTS, 0, -1))[4]
    redis_db.hset(keys.appointment(broken.serial), "queue_no", "first")
    run_worker(svc, burst=True)
    told = confirmations(svc)
    assert sum(told.values()) == 29 and set(told.values()) == {1}
    [claim] = redis_db.zrange(keys.REMINDERS_CLAIMED, 0, -1)
    assert claim.decode().startswith(f"{broken.serial}|confirmation|")
    failed = FailedJobRegistry(queue=svc.reminders.queue).get_job_ids()
    assert len([j for j in failed if j.startswith("confirmations-")]) == 1
    assert not redis_db.exists(keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB)


def test_a_job_that_outlived_its_flag_leaves_the_next_jobs_flag_alone(redis_db: redis.Redis) -> None:
    svc = rush_services(redis_db, capacity=100)
    redis_db.set(keys.CONFIRMATIONS_JOB, "confirmations-next", ex=60)  # set by a booking after this job's expired
    assert svc.reminders.send_confirmations("confirmations-late") == "none waiting"
    assert redis_db.get(keys.CONFIRMATIONS_JOB) == b"confirmations-next"


def test_bookings_beside_a_real_worker_are_each_confirmed_once_by_fewer_jobs(
    redis_db: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    svc = rush_services(redis_db, capacity=100)
    config = tmp_path / "config.toml"
    config.write_text(config_toml(redis_server.url))
    log = tmp_path / "worker.log"
    people = range(1, 401)
    with process(["-m", "app", "worker", "--config", str(config)], log) as worker:
        book(svc, people)
        wait_for(lambda: sum(confirmations(svc).values()) >= len(people), 60, "every confirmation", log)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert confirmations(svc) == Counter({f"openid-{n}": 1 for n in people})
    jobs = finished_jobs(svc)
    assert 1 <= len(jobs) < len(people), f"{len(jobs)} jobs for {len(people)} bookings"
    assert not redis_db.exists(keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB)


def test_a_worker_killed_mid_batch_loses_and_doubles_no_confirmation(
    redis_db: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    svc = rush_services(redis_db, capacity=250)
    people = range(1, 1201)
    book(svc, people)
    config = tmp_path / "config.toml"
    config.write_text(config_toml(redis_server.url))
    log = tmp_path / "worker.log"
    # guahao worker's own run_worker, each confirmation 2 ms slower: the kill lands mid-batch even on a loaded machine
    launcher = ["-m", "tests.worker_process", str(config), '{"confirmation_delay_s": 0.002}']
    with process(launcher, log) as worker:
        wait_for(lambda: sum(confirmations(svc).values()) >= 50, 30, "the first confirmations", log)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    at_kill = sum(confirmations(svc).values())
    assert at_kill < len(people), "killed in the middle of the batch"
    assert redis_db.exists(keys.CONFIRMATIONS_JOB), "the dead job's flag is left: no new job is queued for a while"
    book(svc, range(1201, 1203), threads=1)
    assert not queued_jobs(svc)

    # the claims of what the dead job took, and of what still waits, lapse: each is handed out again as a job of its own
    wall = ManualClock(datetime.now(UTC) + CLAIM_LEASE + timedelta(seconds=1))
    later = Reminders(svc.redis, svc.store, svc.notifier, svc.clock, wall=wall)
    svc.reminders.queue.started_job_registry.cleanup(wall.now().timestamp())  # RQ's own hand-back of a dead job
    unsent = len(people) + 2 - at_kill
    assert unsent <= later.dispatch_due() <= unsent + 1  # + the one sent when the kill came before its claim went
    run_worker(svc, burst=True)
    everyone = Counter({f"openid-{n}": 1 for n in range(1, 1203)})
    assert confirmations(svc) == everyone

    # once the flag has expired, a booking queues a batch job again: it finds the lapsed ones still in line, and
    # sends none of them a second time
    redis_db.delete(keys.CONFIRMATIONS_JOB)
    book(svc, range(1203, 1204), threads=1)
    assert len(queued_jobs(svc)) == 1
    run_worker(svc, burst=True)
    assert confirmations(svc) == everyone + Counter({"openid-1203": 1})
    assert not redis_db.exists(keys.CONFIRMATIONS_WAITING, keys.CONFIRMATIONS_JOB)
    assert redis_db.zcard(keys.REMINDERS_CLAIMED) == 0
