"""The durable step and what hangs on it (SPEC §7): ``WAIT`` after the script on the same connection, an unconfirmed
booking or cancellation told honestly and settled once, a retried request that books nothing twice, scripts that
come back after ``NOSCRIPT``, a process that waits for its Redis, and a supervisor that does not blame the worker
for Redis's outage. Real redis-server processes throughout (a replica where one is needed)."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import rules
from app.supervisor import Supervisor
from bot.config import build_config
from bot.errors import ConfigError, RedisUnavailableError
from bot.settle import BOOKING, RESCHEDULE, OutcomeUnconfirmed
from bot.storage import keys
from bot.storage.runtime import open_redis, wait_until_reachable
from bot.storage.scripts import Durability, Scripts
from tests.dialog_support import Chat
from tests.ha_cluster import SentinelCluster
from tests.support import CONFIG_RAW, NOW, Services, make_services, schedule_csv, slot_of
from tests.test_serve import free_port

TOMORROW = NOW.date() + timedelta(days=1)
SLOT = slot_of("h1", "nk", TOMORROW)


def services_acking(client: redis.Redis, replicas: int) -> Services:
    """Test services whose changes wait for ``replicas`` replicas (the test server has none: never confirmed)."""
    config = build_config({**CONFIG_RAW, "redis": {"min_replicas_ack": replicas, "ack_timeout_ms": 50}})
    services = make_services(client, config)
    services.schedule.import_csv(schedule_csv(TOMORROW))
    return services


@pytest.fixture
def unacked(redis_db: redis.Redis) -> Services:
    return services_acking(redis_db, 1)


def settle_now(svc: Services) -> list[str | None]:
    """Settle as the worker's tick would, on a deployment whose replicas answer again (here: none are needed)."""
    settlements = svc.booking.settlements
    settlements.durability = Durability()
    deadline = time.monotonic() + 10
    while settlements.holding() and time.monotonic() < deadline:
        time.sleep(0.05)  # the records this process held are written for good now
    return [s.outcome for s in settlements.settle_due(svc.notifier, svc.reminders)]


# --- the durable step ------------------------------------------------------------------------------------------
def test_wait_is_confirmed_only_by_enough_replicas(tmp_path: Path) -> None:
    with SentinelCluster.start(tmp_path, replicas=1) as cluster:
        client = cluster.client()
        scripts = Scripts(client, "lease_renew")
        one = scripts.run_durable("lease_renew", ["k"], ["t", 10_000], Durability(1, 2000))
        assert one.reply == 1 and one.confirmed and one.acked == 1
        two = scripts.run_durable("lease_renew", ["k"], ["t", 10_000], Durability(2, 100))
        assert not two.confirmed and two.acked == 1, "one replica cannot confirm for two"
        assert scripts.run_durable("lease_renew", ["k"], ["t", 1], Durability()).confirmed, "0: never waits"


def test_an_unconfirmed_booking_is_told_being_confirmed_then_settled_once(unacked: Services) -> None:
    chat = Chat(unacked, user="openid-1")
    acct, patient = unacked.patient(1, user="openid-1")
    chat.send("1")
    for typed in ("1", "内科", "1", "1"):
        chat.send(typed)
    reply = chat.send("Y")
    assert "正在确认" in reply and "预约成功" not in reply, reply
    [appointment] = unacked.store.of_patient(patient.pid)  # made on the primary, not yet vouched for
    assert appointment.serial in reply
    assert unacked.outbox.messages_for("openid-1") == [], "nothing pushed before the outcome is known"
    assert settle_now(unacked) == ["booked"]
    [sent] = unacked.outbox.messages_for("openid-1")
    assert "预约已确认" in sent["text"] and appointment.serial in sent["text"]
    assert settle_now(unacked) == [] and len(unacked.outbox.messages_for("openid-1")) == 1, "once"
    assert unacked.reminders.pending(appointment.serial), "its reminders are scheduled once it is known"


def test_a_booking_the_failover_lost_is_said_so(unacked: Services) -> None:
    acct, patient = unacked.patient(1)
    with pytest.raises(OutcomeUnconfirmed) as pending:
        unacked.booking.book(patient.pid, acct, "wechat", SLOT)
    lost = pending.value.appointment
    unacked.redis.delete(keys.appointment(lost.serial))  # as if the promoted replica never had it
    unacked.booking.settlements.defer(pending.value, "openid-lost", "wechat")
    assert settle_now(unacked) == ["not_booked"]
    [sent] = unacked.outbox.messages_for("openid-lost")
    assert "未能完成" in sent["text"] and "请重新预约" in sent["text"]


def test_an_unconfirmed_cancellation_is_told_being_confirmed(redis_db: redis.Redis) -> None:
    confirmed = services_acking(redis_db, 0)
    acct, patient = confirmed.patient(1, user="openid-1")
    booked = confirmed.booking.book(patient.pid, acct, "wechat", SLOT)
    unacked = services_acking(redis_db, 1)
    chat = Chat(unacked, user="openid-1")
    assert "回复 Y 确认取消" in chat.send("3")
    reply = chat.send("Y")
    assert "取消已提交" in reply and "已取消预约" not in reply, reply
    assert settle_now(unacked) == ["cancelled"]
    [sent] = unacked.outbox.messages_for("openid-1")
    assert "取消已确认" in sent["text"] and booked.serial in sent["text"]


def test_a_settlement_waits_while_the_replicas_cannot_vouch(unacked: Services) -> None:
    acct, patient = unacked.patient(1)
    with pytest.raises(OutcomeUnconfirmed) as pending:
        unacked.booking.book(patient.pid, acct, "wechat", SLOT)
    unacked.booking.settlements.defer(pending.value, "openid-1", "wechat")
    settlements = unacked.booking.settlements
    waiting = settlements.settle_due(unacked.notifier, unacked.reminders)
    assert [s.outcome for s in waiting] == [None] and len(settlements.due()) == 1, "not settled on a guess"
    assert settlements.holding() == 1, "the record itself is held until the replicas have it"
    assert unacked.outbox.messages_for("openid-1") == []
    assert settle_now(unacked) == ["booked"] and settlements.holding() == 0


# --- one request, one booking ----------------------------------------------------------------------------------
def test_the_same_request_books_once(svc: Services) -> None:
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    acct, patient = svc.patient(1)
    first = svc.booking.book(patient.pid, acct, "wechat", SLOT, request_id="req-1")
    again = svc.booking.book(patient.pid, acct, "wechat", SLOT, request_id="req-1")  # a retry after a failover
    assert (again.serial, again.queue_no) == (first.serial, first.queue_no)
    slot = svc.schedule.slot(SLOT)
    assert slot is not None and slot.taken == 1
    assert [a.serial for a in svc.store.of_patient(patient.pid)] == [first.serial]
    other = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "wk", TOMORROW), request_id="req-2")
    assert other.serial != first.serial


def test_a_webhook_retry_of_the_same_message_gets_the_same_booking(svc: Services) -> None:
    svc.schedule.import_csv(schedule_csv(TOMORROW))
    svc.patient(1, user="openid-1")
    chat = Chat(svc, user="openid-1")
    for typed in ("1", "1", "内科", "1", "1"):
        chat.send(typed)
    booked = chat.send("Y", message_id="msg-42")
    # the delivery ledger and the session were lost with the primary; the platform sends the message again
    lost = svc.redis.keys(keys.PREFIX + "seen:*") + svc.redis.keys(keys.PREFIX + "session:*")
    assert lost, "the ledger and the session are where this test thinks"
    svc.redis.delete(*lost)
    for typed in ("1", "1", "内科", "1", "1"):
        chat.send(typed)
    again = chat.send("Y", message_id="msg-42")
    assert "预约成功" in booked and "预约成功" in again
    assert [line for line in again.splitlines() if "识别码" in line] == [
        line for line in booked.splitlines() if "识别码" in line
    ], "the same serial and queue number"
    assert len(svc.store.of_patient(svc.store.listing()[0].pid)) == 1


# --- NOSCRIPT --------------------------------------------------------------------------------------------------
def test_scripts_come_back_after_the_server_forgets_them(svc: Services) -> None:
    svc.schedule.import_csv(schedule_csv(TOMORROW, capacity=40))
    bookers = [svc.patient(n) for n in range(1, 31)]
    svc.booking.book(bookers[0][1].pid, bookers[0][0], "wechat", SLOT)
    svc.redis.script_flush()  # what a promoted replica or a restarted server knows: no scripts
    single = svc.booking.book(bookers[1][1].pid, bookers[1][0], "wechat", SLOT)
    assert single.queue_no == 2
    svc.redis.script_flush()
    done: list[int] = []
    barrier = threading.Barrier(len(bookers) - 2)

    def book(n: int) -> None:
        barrier.wait()  # together: the combiner's pipelines (facts + commits) meet NOSCRIPT too
        acct, patient = bookers[n]
        done.append(svc.booking.book(patient.pid, acct, "wechat", SLOT).queue_no)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(2, len(bookers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(done) == list(range(3, len(bookers) + 1))


# --- waiting for Redis -----------------------------------------------------------------------------------------
def test_a_process_waits_for_its_redis_one_line_a_try(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.storage.runtime as runtime

    monkeypatch.setattr(runtime, "STARTUP_BACKOFF_S", (0.01, 0.02))
    port = free_port()
    client = redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with caplog.at_level(logging.WARNING), pytest.raises(RedisUnavailableError, match="redis not reachable"):
        wait_until_reachable(client, f"redis://127.0.0.1:{port}", attempts=3)
    lines = [r.getMessage() for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(lines) == 2 and all("retrying in" in line and r.exc_info is None for line, r in
                                   zip(lines, caplog.records, strict=False))  # fmt: skip
    assert "attempt 1" in lines[0] and "attempt 2" in lines[1]


def test_a_process_started_before_its_redis_connects_once_it_is_up(tmp_path: Path) -> None:
    port = free_port()
    config = build_config({**CONFIG_RAW, "redis": {"url": f"redis://127.0.0.1:{port}"}}).redis
    opened: list[object] = []
    waiter = threading.Thread(target=lambda: opened.append(open_redis(config, wait=True)), daemon=True)
    waiter.start()
    time.sleep(1.5)
    assert waiter.is_alive() and not opened, "waiting, not exiting"
    from bot.storage.runtime import find_redis_server

    server = subprocess.Popen([find_redis_server(), "--port", str(port), "--save", "", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        waiter.join(15)
        assert opened, "connected once Redis answered"
    finally:
        server.terminate()
        server.wait(10)


def test_sentinel_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r'redis.sentinels: expected a list of "host:port" strings'):
        build_config({"redis": {"sentinels": ["localhost"]}})
    with pytest.raises(ConfigError, match="redis.min_replicas_ack: expected a whole number"):
        build_config({"redis": {"min_replicas_ack": -1}})
    redis_config = build_config({"redis": {"sentinels": ["10.0.0.1:26379", "[::1]:26380"]}}).redis
    assert redis_config.sentinel_addresses() == [("10.0.0.1", 26379), ("::1", 26380)]
    assert redis_config.sentinel_service == "guahao" and redis_config.min_replicas_ack == 0
    assert replace(redis_config, ack_timeout_ms=1).ack_timeout_ms == 1


# --- the supervisor and Redis's outage -------------------------------------------------------------------------
class _Exits:
    """A worker child that exits at once (``true``), counted."""

    def __init__(self) -> None:
        self.started = 0

    def __call__(self) -> subprocess.Popen[bytes]:
        self.started += 1
        return subprocess.Popen(["true"])


def test_a_worker_exiting_while_redis_is_down_is_not_a_death() -> None:
    reachable = [False]
    start = _Exits()
    gave_up: list[bool] = []
    supervisor = Supervisor(start, None, on_give_up=lambda: gave_up.append(True), redis_reachable=lambda: reachable[0])
    supervisor._spawn_worker()
    for _ in range(20):  # the worker exits again and again while Redis is unreachable
        time.sleep(0.02)
        supervisor.check()
    assert start.started == 1, "not restarted while Redis does not answer"
    assert supervisor.failure is None and not supervisor._restarts["worker"].deaths, "no death counted"
    reachable[0] = True
    supervisor.check()
    assert start.started == 2, "restarted once Redis answers"


def test_rules_unchanged_by_settling(unacked: Services) -> None:
    acct, patient = unacked.patient(1)
    with pytest.raises(OutcomeUnconfirmed) as pending:
        unacked.booking.book(patient.pid, acct, "wechat", SLOT)
    assert pending.value.kind == BOOKING
    assert unacked.store.require(pending.value.appointment.serial).status == rules.AppointmentStatus.booked


def test_a_demoted_primary_sends_its_clients_to_the_new_one(tmp_path: Path) -> None:
    """A switch-over (``SENTINEL FAILOVER``): the old primary lives on as a replica and answers writes with
    ``READONLY``; the pooled connections to it are dropped and the next booking lands on the new primary, whose
    script cache is empty (NOSCRIPT, loaded again)."""
    with SentinelCluster.start(tmp_path, replicas=1) as cluster:
        config = build_config({**CONFIG_RAW, "redis": {"sentinels": cluster.sentinel_config(), "min_replicas_ack": 1}})
        svc = make_services(cluster.client(), config)
        svc.schedule.import_csv(schedule_csv(TOMORROW))
        acct, patient = svc.patient(1)
        before = svc.booking.book(patient.pid, acct, "wechat", SLOT)
        old = cluster.primary_port()
        assert old is not None
        cluster.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", "guahao")
        cluster.wait_promotion(old)
        deadline = time.monotonic() + 20  # until the old primary follows the new one (WAIT 1 can be confirmed)
        while redis.Redis(port=old).info("replication")["role"] != "slave" and time.monotonic() < deadline:
            time.sleep(0.1)
        after = svc.booking.book(patient.pid, acct, "wechat", slot_of("h1", "wk", TOMORROW))
        assert svc.redis.connection_pool.get_master_address()[1] != old  # type: ignore[attr-defined]
        assert {a.serial for a in svc.store.of_patient(patient.pid)} == {before.serial, after.serial}


def test_an_unconfirmed_move_goes_through_the_same_durable_step(redis_db: redis.Redis) -> None:
    """A reschedule (and a waitlist claim) commits through ``BookingService.commit``: the same WAIT, the same honest
    answer, the same settling."""
    confirmed = services_acking(redis_db, 0)
    acct, patient = confirmed.patient(1)
    booked = confirmed.booking.book(patient.pid, acct, "wechat", SLOT)
    unacked = services_acking(redis_db, 1)
    with pytest.raises(OutcomeUnconfirmed) as pending:
        unacked.reschedule.move(booked.serial, slot_of("h1", "nk", TOMORROW, afternoon=True), "patient:wechat")
    assert pending.value.kind == RESCHEDULE and pending.value.appointment.serial != booked.serial
    unacked.booking.settlements.defer(pending.value, "openid-move", "wechat")
    assert settle_now(unacked) == ["rescheduled"]
    [sent] = unacked.outbox.messages_for("openid-move")
    assert "改约已确认" in sent["text"] and pending.value.appointment.serial in sent["text"]
