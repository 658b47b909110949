"""Booking throughput from 8 threads, against the raw rate of a trivial EVALSHA measured in the same run.

    python bench/booking.py [--bookings 4000] [--threads 8] [--rounds 5]

The machine is shared and noisy, so the figure that matters is the ratio: bookings per second divided by
trivial-EVALSHA calls per second, both from the same threads on the same embedded redis-server (append-only,
``appendfsync everysec`` as in production), alternating in rounds. Target: ratio >= 0.25.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

from common import compare  # type: ignore[import-not-found]

from bot.clock import ManualClock
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, make_services, schedule_csv, slot_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    per_round = args.bookings // args.rounds
    per_thread = per_round // args.threads

    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis.start(Path(data), appendonly=True)
        try:
            client = server.client()
            svc = make_services(client, clock=ManualClock(NOW))
            tomorrow = NOW.date() + timedelta(days=1)
            svc.schedule.import_csv(schedule_csv(tomorrow, days=7, capacity=10_000))
            slots = [
                slot_of(h, d, tomorrow + timedelta(days=k), pm)
                for k in range(7)
                for h, d in (("h1", "nk"), ("h1", "wk"), ("h1", "ek"), ("h2", "nk"))
                for pm in (False, True)
            ]
            print(f"setting up {args.bookings} patients ...", flush=True)
            patients = [svc.patient(n) for n in range(1, args.bookings + 1)]
            trivial = client.register_script("return 1")
            failures: list[BaseException] = []

            def raw(index: int, round_no: int) -> None:
                for _ in range(per_thread):
                    trivial()

            def book(index: int, round_no: int) -> None:
                first = round_no * per_round + index * per_thread
                for i in range(first, first + per_thread):
                    acct, patient = patients[i]
                    try:
                        svc.booking.book(patient.pid, acct, "wechat", slots[i % len(slots)])
                    except Exception as exc:  # counted and reported, never hidden
                        failures.append(exc)

            compare(
                "bookings",
                "trivial EVALSHA",
                raw,
                book,
                threads=args.threads,
                per_thread=per_thread,
                rounds=args.rounds,
                target=0.25,
            )
            print(f"failed bookings: {len(failures)}" + (f" (first: {failures[0]!r})" if failures else ""))
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
