"""Sentinel failover under a booking rush (SPEC §7, issue 16): real redis-server processes — a primary, two
replicas, three Sentinels — two booking processes of several threads each, a ``guahao`` web app under gunicorn
and a ``guahao worker``; the primary is SIGKILLed mid-run and Sentinel promotes a replica.

With ``min_replicas_ack = 1`` every booking a patient was told succeeded is there afterwards; with 0 the test prints
how many acknowledged bookings the failover lost (the reason for the option). In both: none doubled, never above
capacity, and the web processes, the booking processes and the worker serve again within 15 s of the promotion.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

import rules
from bot.clock import SystemClock
from bot.reminders import job_queue
from bot.storage import keys
from tests.ha_booker import book_through_failover, ha_config, settle_address
from tests.ha_cluster import SERVICE, SentinelCluster, show_figure
from tests.support import SECRET, SHANGHAI, Services, make_services, schedule_csv, slot_of
from tests.test_serve import free_port

TOMORROW = datetime.now(SHANGHAI).date() + timedelta(days=1)
"""Real dates: the worker beside the bookers runs on the real clock (its no-show sweep must not see past visits)."""
CAPACITY = 100
PATIENTS = 64
PROCESSES = 2
THREADS = 4
ANSWERS_BEFORE_KILL = 300
AFTER_PROMOTION_S = 5.0
PAUSE_S = 0.01
STALL_S = 0.8
BURST_BYTES = 48 * 1024 * 1024
"""How long the replicas lag behind (stopped) before the primary dies: what was acknowledged meanwhile by the
primary alone is what a failover loses."""
SERVE_AGAIN_S = 15.0


def _config_file(directory: Path, cluster: SentinelCluster, min_replicas_ack: int) -> Path:
    path = directory / "config.toml"
    sentinels = ", ".join(f'"{s}"' for s in cluster.sentinel_config())
    path.write_text(
        f'[server]\nsimulator = true\n[redis]\nsentinels = [{sentinels}]\nsentinel_service = "{SERVICE}"\n'
        f'min_replicas_ack = {min_replicas_ack}\nack_timeout_ms = 300\ndata_dir = "{directory / "data"}"\n'
        f'[security]\nsecret_key = "{SECRET}"\n'
    )
    return path


def _start(command: list[str], directory: Path, name: str, config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GUAHAO_CONFIG": str(config), "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics")}
    (directory / "metrics").mkdir(exist_ok=True)
    return subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=(directory / f"{name}.log").open("w"),
        start_new_session=True,
    )  # fmt: skip


def _web_answers(base: str) -> bool:
    body = json.dumps({"channel": "wechat", "user": "o-probe", "text": "帮助"}).encode()
    request = urllib.request.Request(base + "/simulator/send", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status == 200 and bool(json.loads(response.read())["replies"])
    except (OSError, ValueError, KeyError):
        return False


def _worker_answers(client: redis.Redis, within: float = 3.0) -> bool:
    """Whether the worker runs a job enqueued now (a reminder of no appointment: it only looks)."""
    try:
        job = Queue(job_queue(client).name, connection=client, serializer=JSONSerializer).enqueue(
            "bot.jobs.send_reminder", "00000000", "confirmation", 0
        )
    except (redis.RedisError, OSError):
        return False
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if job.get_status(refresh=True) == "finished":
                return True
        time.sleep(0.1)
    return False


def _first_success_after(probe: threading.Event, since: list[float], check: object, found: dict[str, float],
                         name: str) -> None:  # fmt: skip
    """Poll ``check`` until it succeeds after the promotion time (``since[0]`` once set); record the moment."""
    assert callable(check)
    while not probe.is_set():
        ok = check()
        if ok and since and name not in found:
            found[name] = time.monotonic()
            return
        time.sleep(0.2)


@pytest.mark.parametrize("min_replicas_ack", [1, 0])
def test_sigkill_of_the_primary_mid_rush(tmp_path: Path, min_replicas_ack: int, request: pytest.FixtureRequest) -> None:
    with SentinelCluster.start(tmp_path, replicas=2) as cluster:
        config = ha_config(cluster.sentinel_config(), min_replicas_ack)
        client = cluster.client()
        svc = make_services(client, config, SystemClock())
        svc.schedule.import_csv(schedule_csv(TOMORROW, days=4, capacity=CAPACITY))
        slots = [slot_of(h, d, TOMORROW + timedelta(days=n), pm) for n in range(4) for h, d in
                 (("h1", "nk"), ("h1", "wk"), ("h1", "ek"), ("h2", "nk")) for pm in (False, True)]  # fmt: skip
        bookers = [(view.pid, acct) for acct, view in (svc.patient(n) for n in range(1, PATIENTS + 1))]
        config_file = _config_file(tmp_path, cluster, min_replicas_ack)
        port = free_port()
        web = _start([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app.wsgi:app"],
                     tmp_path, "gunicorn", config_file)  # fmt: skip
        worker = _start([sys.executable, "-m", "app", "worker"], tmp_path, "worker", config_file)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 40
            while not (_web_answers(base) and _worker_answers(client)):
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
                time.sleep(0.3)
            outcomes, promoted_at, served, said = _rush(cluster, bookers, slots, min_replicas_ack, base, client)
        finally:
            for process in (web, worker):
                process.send_signal(signal.SIGTERM)
            for process in (web, worker):
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        logs = "".join(f"--- {n}\n" + (tmp_path / f"{n}.log").read_text()[-1500:] for n in ("worker", "gunicorn"))
        for line in [*said, *_check(svc, outcomes, promoted_at, served, min_replicas_ack, logs)]:
            show_figure(request, line)


def _rush(
    cluster: SentinelCluster, bookers: list[tuple[str, str]], slots: list[str], min_replicas_ack: int, base: str,
    client: redis.Redis,
) -> tuple[list[tuple[str, str, str, str, float]], float, dict[str, float], list[str]]:  # fmt: skip
    context = multiprocessing.get_context("spawn")
    stop, answered, results = context.Event(), context.Value("i", 0), context.Queue()
    share = len(bookers) // PROCESSES
    processes = [
        context.Process(
            target=book_through_failover,
            args=(
                cluster.sentinel_config(),
                min_replicas_ack,
                bookers[i * share : (i + 1) * share],
                slots,
                THREADS,
                stop,
                answered,
                results,
                PAUSE_S,
            ),
        )  # fmt: skip
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    promoted: list[float] = []
    served: dict[str, float] = {}
    done = threading.Event()
    probes = [
        threading.Thread(target=_first_success_after, args=(done, promoted, lambda: _web_answers(base), served, "web")),
        threading.Thread(
            target=_first_success_after, args=(done, promoted, lambda: _worker_answers(client), served, "worker")
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        while answered.value < ANSWERS_BEFORE_KILL:  # the rush is under way in both processes
            assert time.monotonic() < deadline and all(p.is_alive() for p in processes), answered.value
            time.sleep(0.05)
        old = cluster.primary()
        replicas = [n for n in cluster.data if n is not old]
        for replica in replicas:  # the replicas fall behind for a moment (a slow link), then the primary dies
            replica.process.send_signal(signal.SIGSTOP)
        # a burst of other writes fills the replication links (the kernel's buffers): what follows waits in the
        # primary's memory, and dies with it, as on a congested network
        client.set("test:burst", b"x" * BURST_BYTES)
        stalled_from = time.time()
        time.sleep(STALL_S)
        killed_at = time.monotonic()
        old.kill()
        wall_killed = time.time()
        for replica in replicas:
            replica.process.send_signal(signal.SIGCONT)
        promoted_at = cluster.wait_promotion(old.port)
        wall_promoted = time.time() - (time.monotonic() - promoted_at)
        promoted.append(promoted_at)
        for probe in probes:
            probe.start()
        time.sleep(AFTER_PROMOTION_S)
    finally:
        stop.set()
    outcomes = [row for _ in processes for row in results.get(timeout=60)]
    for process in processes:
        process.join(timeout=30)
    for probe in probes:
        probe.join(timeout=SERVE_AGAIN_S)
    done.set()
    served["bookings"] = min(
        (time.monotonic() - (time.time() - at) for _, _, outcome, _, at in outcomes
         if outcome == "ok" and at > wall_promoted),
        default=float("inf"),
    )  # fmt: skip
    stalled = Counter(o for _, _, o, _, at in outcomes if stalled_from <= at <= wall_killed)
    said = [
        f"\nmin_replicas_ack={min_replicas_ack}: replicas stalled, primary SIGKILLed {STALL_S:g} s later, after "
        f"{ANSWERS_BEFORE_KILL}+ answers; a replica promoted {promoted_at - killed_at:.1f} s after the kill",
        f"  answers while the replicas lagged: {dict(stalled)}",
    ]
    return outcomes, promoted_at, served, said


def _check(
    svc: Services,
    outcomes: list[tuple[str, str, str, str, float]],
    promoted_at: float,
    served: dict[str, float],
    min_replicas_ack: int,
    logs: str,
) -> list[str]:
    """Check the outcome of the rush; the figures to show."""
    told = Counter(outcome.split(":")[0] for _, _, outcome, _, _ in outcomes)
    booked_serials = [serial for _, _, outcome, serial, _ in outcomes if outcome == "ok"]
    present = {a.serial: a for a in svc.store.many(booked_serials)}
    lost = [s for s in booked_serials if s not in present or present[s].status != rules.AppointmentStatus.booked]
    again = {part: at - promoted_at for part, at in served.items()}
    said = [
        f"  answers: {dict(told)}",
        f"  told booked: {len(booked_serials)}, lost by the failover: {len(lost)}",
        "  serving again after the promotion: " + ", ".join(f"{p} {s:.1f} s" for p, s in sorted(again.items())),
    ]
    assert told["ok"] > 50, told
    assert len(set(booked_serials)) == len(booked_serials), "a serial told twice"
    for part in ("web", "worker", "bookings"):
        assert again.get(part, float("inf")) <= SERVE_AGAIN_S, (part, again, logs)
    if min_replicas_ack >= 1:
        assert not lost, f"acknowledged bookings lost: {lost[:5]}"
    # never doubled, never above capacity, across every slot of the rush
    pairs: Counter[tuple[str, str]] = Counter()
    for slot in {row[1] for row in outcomes}:
        appointments = svc.store.many(svc.redis.zrange(keys.slot_appointments(slot), 0, -1))
        live = [a for a in appointments if a.status == rules.AppointmentStatus.booked]
        stored = svc.schedule.slot(slot)
        assert stored is not None and stored.taken == len(live) <= CAPACITY, (slot, stored, len(live), said)
        assert len({a.queue_no for a in appointments}) == len(appointments), "a queue number given twice"
        pairs.update((a.pid, a.slot) for a in live)
    said.append(_check_settled(svc, [serial for _, _, outcome, serial, _ in outcomes if outcome == "unconfirmed"]))
    attempts = Counter((pid, slot) for pid, slot, outcome, _, _ in outcomes if not outcome.startswith("refused"))
    doubled = [pair for pair, n in pairs.items() if n > attempts[pair]]
    assert not doubled, f"bookings nobody made: {doubled[:5]}"
    return said


def _check_settled(svc: Services, unconfirmed: list[str]) -> str:
    """Every booking told "being confirmed" is sent its real outcome once: booked when it survived, else not."""
    for _ in range(2):  # the worker's tick may have settled some already; a second round sends nothing again
        svc.booking.settlements.settle_due(svc.notifier, svc.reminders)
    assert svc.booking.settlements.due() == [], "every outcome settled"
    outcomes: Counter[str] = Counter()
    for serial in unconfirmed:
        sent = [m["text"] for m in svc.outbox.messages_for(settle_address(serial))]
        assert len(sent) == 1, (serial, sent)
        survived = svc.store.get(serial) is not None
        expected = "预约已确认" if survived else "未能完成"
        assert expected in sent[0] and serial in sent[0], (serial, survived, sent[0])
        outcomes["booked" if survived else "not booked"] += 1
    return f"  told 'being confirmed': {len(unconfirmed)}, settled: {dict(outcomes)}"
