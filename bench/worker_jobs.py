"""CPU time of ``guahao worker`` per booking confirmation: the job the release rush leaves behind for every booking.

    python bench/worker_jobs.py [--bookings 1000] [--root DIR]

Books ``--bookings`` appointments through the services as the webhook does (booking, then ``Reminders.on_booked``:
the address, the reminders and the confirmation's RQ job), then runs the real worker (RQ's ``SimpleWorker`` with
guahao's services, console push) in burst mode until the queue is settled, and prints its CPU time and the Redis
server's per confirmation. ``--root`` runs another checkout's code, to compare before/after a change.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from app.worker import run_worker
    from bot.config import build_config
    from bot.reminders import QUEUE_NAME
    from bot.storage.runtime import EmbeddedRedis
    from tests.support import CONFIG_RAW, NOW, make_services, schedule_csv

    server = EmbeddedRedis.start(None, appendonly=False)
    try:
        raw = {**CONFIG_RAW, "hospitals": CONFIG_RAW["hospitals"][:1], "policy": {"rate_limit_per_minute": 10**9}}
        svc = make_services(server.client(), build_config(raw))
        day = NOW.date() + timedelta(days=1)
        svc.schedule.import_csv(schedule_csv(day, days=1, capacity=args.bookings, hospitals=("h1",)))
        slot = svc.schedule.slots_on("h1", "nk", [day.isoformat()])[day.isoformat()][0].id
        run_worker(svc, burst=True)  # warm: scripts loaded, the tick's first work done
        for n in range(1, args.bookings + 1):
            acct, patient = svc.patient(n)
            appointment = svc.booking.book(patient.pid, acct, "wechat", slot)
            svc.reminders.on_booked(appointment, f"openid-{n}")
        queued = svc.redis.llen(f"rq:queue:{QUEUE_NAME}")
        redis_before = _redis_cpu_s(svc.redis)
        cpu, wall = time.process_time(), time.perf_counter()
        run_worker(svc, burst=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        redis_cpu = _redis_cpu_s(svc.redis) - redis_before
        left = svc.redis.llen(f"rq:queue:{QUEUE_NAME}")
        per = 1000 / args.bookings
        print(f"{args.bookings} confirmations, RQ jobs queued {queued}, left {left}")
        print(f"per confirmation: worker cpu {per * cpu:.3f} ms, redis-server cpu {per * redis_cpu:.3f} ms", end="")
        print(f", wall {per * wall:.3f} ms")
    finally:
        server.stop()


def _redis_cpu_s(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


if __name__ == "__main__":
    main()
