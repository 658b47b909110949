"""Several workers against one Redis (SPEC §7): the periodic duties run in one worker at a time (a lease in Redis),
and a broadcast to 1,000 patients is sent exactly once each while two workers share it and the one holding the
lease is SIGKILLed; the no-show sweep records a due no-show once, and its notice goes once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import rules
from app.web import create_app
from bot.clock import RedisClock
from bot.lease import Lease
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.ha_cluster import show_figure
from tests.support import NOW, make_services
from tests.test_worker import AUTH, RECIPIENTS, book_everyone, config_toml, process, progress, wait_for

TOMORROW = NOW.date() + timedelta(days=1)


def test_lease_one_holder_at_a_time(redis_db: redis.Redis) -> None:
    first, second = Lease(redis_db, "duty", 200), Lease(redis_db, "duty", 200)
    assert first.hold() and not second.hold()
    assert first.hold(), "the holder renews"
    assert not second.release() and first.holder() == first.token, "only the holder releases"
    time.sleep(0.25)  # the holder stopped renewing (died): the lease lapses
    assert second.hold() and not first.hold()
    assert not first.release() and second.holder() == second.token, "a lapsed holder cannot release the new one's"
    assert second.release() and first.hold()


def _lease_holder_pid(client: redis.Redis) -> int | None:
    token = client.get(keys.lease("periodic"))
    return None if token is None else int(token.decode().split(":")[1])


def test_two_workers_broadcast_exactly_once_through_a_sigkill(
    redis_db: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = RedisClock(redis_db)
    clock.set(NOW)
    svc = make_services(redis_db, clock=clock)
    serials = book_everyone(svc)  # 1,000 patients booked the day after tomorrow, on the test's h1
    absent_acct, absent = svc.patient(RECIPIENTS + 1)
    missed = svc.booking.book(absent.pid, absent_acct, "wechat", f"h1|nk|dr-nk|{TOMORROW.isoformat()}|08:00")
    svc.notifier.remember_address(missed, "openid-absent")
    http = create_app(svc).test_client()
    answer = http.post(
        "/api/staff/broadcasts", json={"hospital": "h1", "date": (NOW.date() + timedelta(days=2)).isoformat(),
                                       "text": "因故停诊", "cancel": True}, headers=AUTH,
    )  # fmt: skip
    assert answer.status_code == 202
    broadcast_id = answer.get_json()["id"]
    clock.set(NOW + timedelta(days=1, hours=12))  # tomorrow noon: the absent patient's morning clinic is over

    config = tmp_path / "config.toml"
    config.write_text(config_toml(redis_server.url))
    knobs = '{"periodic": 0.3, "stale_after": 2, "rates": {"wechat": 250}}'
    launcher = ["-m", "tests.worker_process", str(config), knobs]
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    with process(launcher, logs[0]) as a, process(launcher, logs[1]) as b:
        wait_for(lambda: int(progress(http, broadcast_id)["sent"]) >= 200, 60, "the first sends", logs[0])
        holder = _lease_holder_pid(redis_db)
        assert holder in (a.pid, b.pid)
        killed, survivor = (a, b) if holder == a.pid else (b, a)
        os.kill(killed.pid, signal.SIGKILL)  # the lease holder, mid-broadcast
        killed.wait()
        wait_for(lambda: _lease_holder_pid(redis_db) == survivor.pid, 30, "the lease taken over", logs[0])
        wait_for(lambda: progress(http, broadcast_id)["status"] == "done", 60, "the broadcast to finish", logs[1])
        wait_for(lambda: len(svc.outbox.messages_for("openid-absent")) >= 1, 30, "the no-show notice", logs[1])
        time.sleep(1.0)  # more ticks of the survivor: nothing more may come of them
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 0

    final = progress(http, broadcast_id)
    assert (final["status"], final["total"], final["sent"], final["failed"]) == ("done", RECIPIENTS, RECIPIENTS, 0)
    _, messages = svc.outbox.since("0-0", count=10 * RECIPIENTS)
    cancellations = Counter(m["to"] for m in messages if m["kind"] == "cancellation")
    assert len(cancellations) == RECIPIENTS and max(cancellations.values()) == 1, "exactly one each"
    assert all(a.status == rules.AppointmentStatus.cancelled_by_hospital for a in svc.store.many(serials))
    # the sweep ran once for the due no-show: recorded once, audited once, its notice sent once
    assert svc.store.require(missed.serial).status == rules.AppointmentStatus.no_show
    audited = [e for _, e in redis_db.xrange(keys.AUDIT) if e.get(b"action") == b"no_show"]
    assert len(audited) == 1
    assert [m["kind"] for m in svc.outbox.messages_for("openid-absent")] == ["no_show"]
    taken = [line for log in logs for line in log.read_text().splitlines() if "lease taken" in line]
    show_figure(request, f"\n1,000 sent once each; lease taken {len(taken)} times (holder killed, then the survivor)")
    assert len(taken) == 2, taken
