"""Redis memory per patient (with its account) and per appointment, and keys per patient + booking.

    python bench/footprint.py [--patients 10000] [--appointments 10000] [--breakdown]

Patients are added and booked through the real services (``PatientService.add_patient``, ``BookingService.book``)
on a real ``redis-server``. The figures are ``INFO memory`` ``used_memory`` and ``DBSIZE`` deltas divided by the
count. Two servers are measured in the same run: one with Redis's default small-collection encodings (the
baseline: what an external Redis left at its defaults gives) and one started the way guahao starts its embedded
Redis (``bot.storage.encoding``: listpack thresholds that fit guahao's encrypted values). The goal is at most
1 KB per patient; the ratio printed is measured / goal (below 1 meets it).
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import timedelta
from typing import Any

from common import ROOT  # type: ignore[import-not-found]  # noqa: F401  (puts the project on sys.path)

from bot.clock import ManualClock
from bot.storage.encoding import COMPACT_ENCODING
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, make_services, schedule_csv, slot_of

GOAL_PER_PATIENT = 1024
DAYS = 7
_VARIABLE = re.compile(r"[0-9a-f]{40}|\d{8}|\d{4}-\d{2}-\d{2}")


def _used(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def _breakdown(client: Any) -> dict[str, tuple[int, int]]:
    """Bytes and count per key shape (hashes, serials and dates replaced by ``*``)."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key in client.scan_iter(count=1000):
        shape = _VARIABLE.sub("*", key.decode())
        groups[shape][0] += int(client.memory_usage(key, samples=0) or 0)
        groups[shape][1] += 1
    return {shape: (size, count) for shape, (size, count) in groups.items()}


def measure(label: str, extra_args: tuple[str, ...], patients: int, appointments: int, breakdown: bool) -> float:
    """Print and return bytes per patient on a server started with ``extra_args``."""
    server = EmbeddedRedis.start(None, appendonly=False, encoding=extra_args)
    try:
        client = server.client()
        svc = make_services(client, clock=ManualClock(NOW))
        tomorrow = NOW.date() + timedelta(days=1)
        svc.schedule.import_csv(schedule_csv(tomorrow, days=DAYS, capacity=appointments))
        slots = [
            slot_of(h, d, tomorrow + timedelta(days=k), pm)
            for k in range(DAYS)
            for h, d in (("h1", "nk"), ("h1", "wk"), ("h1", "ek"), ("h2", "nk"))
            for pm in (False, True)
        ]
        client.execute_command("MEMORY", "PURGE")
        used0, keys0 = _used(client), int(client.dbsize())
        added = [svc.patient(n) for n in range(1, patients + 1)]
        client.execute_command("MEMORY", "PURGE")
        used1, keys1 = _used(client), int(client.dbsize())
        shape_before = _breakdown(client) if breakdown else {}
        for i in range(appointments):
            acct, patient = added[i % patients]
            svc.booking.book(patient.pid, acct, "wechat", slots[i % len(slots)])
        client.execute_command("MEMORY", "PURGE")
        used2, keys2 = _used(client), int(client.dbsize())
        per_patient = (used1 - used0) / patients
        per_appointment = (used2 - used1) / appointments
        keys_each = (keys1 - keys0) / patients + (keys2 - keys1) / appointments
        print(f"{label}:")
        ratio = per_patient / GOAL_PER_PATIENT
        print(f"  bytes/patient      {per_patient:8.0f}   (goal <= {GOAL_PER_PATIENT}: ratio {ratio:.2f})")
        print(f"  bytes/appointment  {per_appointment:8.0f}")
        print(f"  keys per patient + booking  {keys_each:.1f}")
        if breakdown:
            for shape, (size, count) in sorted(_breakdown(client).items(), key=lambda kv: -kv[1][0])[:20]:
                before = shape_before.get(shape, (0, 0))[1]
                print(f"    {size / max(count, 1):7.0f} B x {count:6d} (after patients: {before:6d})  {shape}")
        client.close()
        return per_patient
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--breakdown", action="store_true", help="bytes per key shape (MEMORY USAGE)")
    args = parser.parse_args()
    baseline = measure("Redis default encodings (baseline)", (), args.patients, args.appointments, args.breakdown)
    compact = measure(
        "guahao's encodings (bot.storage.encoding)", COMPACT_ENCODING, args.patients, args.appointments, args.breakdown
    )
    print(f"ratio compact/default bytes per patient: {compact / baseline:.2f}")
    print(f"ratio compact/goal: {compact / GOAL_PER_PATIENT:.2f}  (<= 1.00 meets the goal of 1 KB per patient)")


if __name__ == "__main__":
    main()
