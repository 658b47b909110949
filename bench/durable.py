"""The cost of ``min_replicas_ack = 1``: bookings/s waiting for a replica's ``WAIT`` against bookings/s without, from
the same threads on the same primary (with one replica attached, both append-only), alternating in rounds.

    python bench/durable.py [--bookings 4000] [--threads 8] [--rounds 5]

Baseline: the same bookings with ``min_replicas_ack = 0``. Target: ratio >= 0.5 (waiting for a local replica at most
halves the booking rate; the combiner's pipeline carries one WAIT for a whole batch of commits).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from common import compare  # type: ignore[import-not-found]

from bot.clock import ManualClock
from bot.config import build_config
from tests.ha_cluster import SentinelCluster
from tests.support import CONFIG_RAW, NOW, Services, make_services, schedule_csv, slot_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    per_round = args.bookings // args.rounds
    per_thread = per_round // args.threads

    with tempfile.TemporaryDirectory() as data, SentinelCluster.start(Path(data), replicas=1) as cluster:
        client = cluster.client()
        waiting, plain = (
            make_services(client, build_config({**CONFIG_RAW, "redis": {"min_replicas_ack": n}}), ManualClock(NOW))
            for n in (1, 0)
        )
        tomorrow = NOW.date() + timedelta(days=1)
        plain.schedule.import_csv(schedule_csv(tomorrow, days=7, capacity=10_000))
        slots = [
            slot_of(h, d, tomorrow + timedelta(days=k), pm)
            for k in range(7)
            for h, d in (("h1", "nk"), ("h1", "wk"), ("h1", "ek"), ("h2", "nk"))
            for pm in (False, True)
        ]
        print(f"setting up {2 * args.bookings} patients ...", flush=True)
        patients = [plain.patient(n) for n in range(1, 2 * args.bookings + 1)]
        failures: list[BaseException] = []

        def booking(services: Services, offset: int) -> Callable[[int, int], None]:
            def book(index: int, round_no: int) -> None:
                first = offset + round_no * per_round + index * per_thread
                for i in range(first, first + per_thread):
                    acct, patient = patients[i]
                    try:
                        services.booking.book(patient.pid, acct, "wechat", slots[i % len(slots)])
                    except Exception as exc:  # counted and reported, never hidden (an unconfirmed one too)
                        failures.append(exc)

            return book

        compare(
            "bookings waiting for 1 replica",
            "bookings (min_replicas_ack 0)",
            booking(plain, 0),
            booking(waiting, args.bookings),
            threads=args.threads,
            per_thread=per_thread,
            rounds=args.rounds,
            target=0.5,
        )
        print(f"failed bookings: {len(failures)}" + (f" (first: {failures[0]!r})" if failures else ""))
        client.close()


if __name__ == "__main__":
    main()
