"""Booking throughput from 8 threads, against the raw rate of a trivial EVALSHA measured in the same run.

    python bench/booking.py [--bookings 4000] [--threads 8] [--rounds 5]

The machine is shared and noisy, so the figure that matters is the ratio: bookings per second divided by
trivial-EVALSHA calls per second, both from the same number of threads on the same embedded redis-server
(append-only, ``appendfsync everysec`` as in production). Target: ratio >= 0.25.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import ManualClock  # noqa: E402
from bot.redis_runtime import EmbeddedRedis  # noqa: E402
from tests.support import NOW, make_services, schedule_csv, slot_of  # noqa: E402


def run_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(thread_index)`` on ``threads`` threads started together; the wall time in seconds."""
    barrier = threading.Barrier(threads + 1)

    def body(index: int) -> None:
        barrier.wait()
        work(index)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

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

            # The baseline and the bookings alternate in rounds, so that a change in the machine's load hits both;
            # the figure reported is the median of the per-round ratios.
            trivial = client.register_script("return 1")
            trivial()
            per_round = args.bookings // args.rounds
            per_thread = per_round // args.threads
            failures: list[BaseException] = []
            rows = []
            for round_no in range(args.rounds):

                def raw(index: int) -> None:
                    for _ in range(per_thread):
                        trivial()

                def book(index: int, base: int = round_no * per_round) -> None:
                    for i in range(base + index * per_thread, base + (index + 1) * per_thread):
                        acct, patient = patients[i]
                        try:
                            svc.booking.book(patient.pid, acct, "wechat", slots[i % len(slots)])
                        except Exception as exc:  # counted and reported, never hidden
                            failures.append(exc)

                raw_rate = per_thread * args.threads / run_threads(args.threads, raw)
                book_rate = per_thread * args.threads / run_threads(args.threads, book)
                rows.append((raw_rate, book_rate, book_rate / raw_rate))
                print(
                    f"round {round_no + 1}: trivial EVALSHA {raw_rate:7.0f}/s  bookings {book_rate:6.0f}/s  "
                    f"ratio {book_rate / raw_rate:.3f}"
                )
            raw_rate, book_rate, ratio = sorted(rows, key=lambda r: r[2])[len(rows) // 2]
            booked = per_thread * args.threads * args.rounds - len(failures)
            print(f"trivial EVALSHA: {raw_rate:9.0f} calls/s   ({args.threads} threads; the median round)")
            print(
                f"bookings:        {book_rate:9.0f} bookings/s ({args.threads} threads; {booked} booked in all, "
                f"{len(failures)} failed)"
            )
            print(f"ratio:           {ratio:9.3f}   (median of {args.rounds} rounds; target >= 0.25)")
            if failures:
                print(f"first failure: {failures[0]!r}")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
