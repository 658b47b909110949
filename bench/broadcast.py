"""Broadcast fan-out to the console sender, against the rate of plain RQ enqueues measured in the same run.

    python bench/broadcast.py [--recipients 100000] [--baseline 20000]

The machine is shared and noisy, so the figure that matters is the ratio: recipients notified per second by one
RQ worker doing the broadcast's batch jobs (500 recipients per job: read the appointments and their addresses in one
round trip per 50, compose, one Lua send-once + outbox record each, progress counted per 50), divided by the rate of
``queue.enqueue`` of a no-op job (what a one-job-per-recipient design would pay before sending anything). The
baseline is measured before and after the broadcast and averaged. Target: ratio >= 0.5, thanks to batching.

The appointments are written straight into Redis (the booking path is bench/booking.py's business); the broadcast
itself goes through the real path: ``Broadcasts.create`` (selection + snapshot), batch jobs enqueued, a real
``SimpleWorker`` in burst mode (``app.worker.run_worker``), the outbox on an append-only embedded redis-server.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import common  # type: ignore[import-not-found]  # noqa: F401  (puts the repository on sys.path)
from rq import Queue
from rq.serializers import JSONSerializer

from app.worker import run_worker
from bot.clock import ManualClock
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, Services, make_services

VISIT = (NOW.date() + timedelta(days=2)).isoformat()
DEPARTMENTS = ("nk", "wk", "ek")


def noop() -> None:
    """The baseline job (never run: only its enqueueing is measured)."""


def write_appointments(svc: Services, count: int) -> None:
    """``count`` booked appointments at h1 on VISIT, each with a WeChat address, written with pipelines."""
    booked_at = svc.store.stamp(NOW)
    pipe = svc.redis.pipeline(transaction=False)
    for n in range(count):
        serial = str(10_000_000 + n)
        department = DEPARTMENTS[n % 3]
        slot = f"h1|{department}|dr-{department}|{VISIT}|08:00"
        pipe.hset(
            keys.appointment(serial),
            mapping={
                "serial": serial,
                "slot": slot,
                "hospital": "h1",
                "department": department,
                "doctor": f"dr-{department}",
                "doctor_name": "张医生",
                "level": "general",
                "date": VISIT,
                "start": "08:00",
                "end": "12:00",
                "fee_cents": "500",
                "queue_no": str(n // 3 + 1),
                "status": "booked",
                "pid": f"pid-{n}",
                "acct": f"acct-{n}",
                "channel": "wechat",
                "patient_name_masked": "张*",
                "booked_at": booked_at,
            },
        )
        pipe.sadd(keys.date_appointments(VISIT), serial)
        pipe.hset(
            keys.appointment_notify(serial),
            mapping={"channel": "wechat", "to_enc": svc.box.encrypt(f"openid-{n}", context="notify.to")},
        )
        if n % 5_000 == 4_999:
            pipe.execute()
    pipe.execute()


def enqueue_rate(svc: Services, count: int) -> float:
    """Plain ``queue.enqueue`` of a no-op job, one call each: jobs per second."""
    queue = Queue("bench-baseline", connection=svc.redis, serializer=JSONSerializer)  # no worker runs these
    started = time.perf_counter()
    for _ in range(count):
        queue.enqueue("bench.broadcast.noop", result_ttl=0)
    elapsed = time.perf_counter() - started
    queue.empty()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=20_000, help="no-op enqueues measured before and after")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis.start(Path(data), appendonly=True)
        try:
            client = server.client()
            svc = make_services(client, clock=ManualClock(NOW))
            print(f"writing {args.recipients} booked appointments ...", flush=True)
            write_appointments(svc, args.recipients)

            before = enqueue_rate(svc, args.baseline)
            started = time.perf_counter()
            request = svc.broadcasts.validate("h1", VISIT, "今日上午门诊推迟一小时开始")
            progress, _ = svc.broadcasts.create(request, "staff:bench")
            created = time.perf_counter()
            jobs = svc.broadcasts.enqueue(progress.id)
            run_worker(svc, burst=True)
            finished = time.perf_counter()
            after = enqueue_rate(svc, args.baseline)

            final = svc.broadcasts.get(progress.id)
            outbox = client.xlen(keys.OUTBOX)
            baseline = (before + after) / 2
            fan_out = final.sent / (finished - created)
            overall = final.sent / (finished - started)
            print(f"broadcast: {final.status.value}, {final.sent} sent, {final.failed} failed of {final.total}; "
                  f"{jobs} batch jobs; outbox {outbox} messages")  # fmt: skip
            print(f"selection + snapshot: {created - started:6.2f} s")
            print(f"plain RQ enqueue (no-op job): {baseline:9.0f}/s  (before {before:.0f}/s, after {after:.0f}/s)")
            print(f"broadcast fan-out:            {fan_out:9.0f} recipients/s  (1 worker, batches of 500)")
            print(f"broadcast incl. selection:    {overall:9.0f} recipients/s")
            print(f"ratio: {fan_out / baseline:.3f}  (fan-out / plain enqueue; target >= 0.5)")
            print(f"ratio incl. selection: {overall / baseline:.3f}")
            if final.sent != args.recipients or outbox != args.recipients:
                raise SystemExit("not every recipient was notified exactly once")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
