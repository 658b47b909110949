"""Waitlist offers per second on a release of freed places, against bookings per second measured in the same run.

    python bench/waitlist.py [--places 1000] [--threads 8] [--rounds 3]

Each round first books ``places`` places with one thread per slot (the baseline: bookings per second, as
bench/booking.py books), then releases ``places`` places freed for waiters (prepared untimed: ``threads`` slots
booked full, as many patients waiting as places, every booking cancelled so each place is routed to the waitlist)
and times the offers: each thread offers its slot's freed places (``WaitlistService.offer_pending``: per offer the
booking rules re-read for the waiter, one atomic script, the push queued as a job). The figure that matters on a
shared machine is the ratio offers/s ÷ bookings/s of the same run (median of the rounds). Target: ratio >= 0.5
(an offer re-decides the booking rules like a booking, and adds the queue read and the job).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

from common import compare  # type: ignore[import-not-found]

from bot.clock import ManualClock
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, Services, make_services

HEADER = "hospital,department,doctor,level,date,start,end,capacity,fee\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    per_thread = args.places // args.threads
    places = per_thread * args.threads
    day = (NOW.date() + timedelta(days=2)).isoformat()

    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis.start(Path(data), appendonly=True)
        try:
            client = server.client()
            svc = make_services(client, clock=ManualClock(NOW))
            rows = [
                f"h1,{dept},bench-{dept}-{r}-{t},general,{day},08:00,12:00,{per_thread},5\n"
                for r in range(args.rounds)
                for t in range(args.threads)
                for dept in ("nk", "wk")
            ]
            svc.schedule.import_csv(HEADER + "".join(rows))

            def slot(dept: str, r: int, t: int) -> str:
                return f"h1|{dept}|bench-{dept}-{r}-{t}|{day}|08:00"

            numbers = iter(range(1, 10**7))
            print(f"setting up {args.rounds} rounds of {places} places ...", flush=True)
            bookers = [[svc.patient(next(numbers)) for _ in range(places)] for _ in range(args.rounds)]
            for r in range(args.rounds):
                prepare_release(svc, [slot("wk", r, t) for t in range(args.threads)], per_thread, numbers)
            failures: list[BaseException] = []

            def book(index: int, round_no: int) -> None:
                for acct, patient in bookers[round_no][index * per_thread : (index + 1) * per_thread]:
                    try:
                        svc.booking.book(patient.pid, acct, "wechat", slot("nk", round_no, index))
                    except Exception as exc:  # counted and reported, never hidden
                        failures.append(exc)

            offered = [0] * args.rounds

            def offer(index: int, round_no: int) -> None:
                made = svc.waitlist.offer_pending([slot("wk", round_no, index)])
                offered[round_no] += made

            compare(
                "waitlist offers",
                "bookings",
                book,
                offer,
                threads=args.threads,
                per_thread=per_thread,
                rounds=args.rounds,
                target=0.5,
            )
            held = sum(int(client.hget(keys.slot(slot("wk", r, t)), "wl_held") or 0) for r in range(args.rounds)
                       for t in range(args.threads))  # fmt: skip
            print(f"offers made: {sum(offered)} (places held: {held}, expected {places * args.rounds})")
            print(f"failed bookings: {len(failures)}" + (f" (first: {failures[0]!r})" if failures else ""))
            client.close()
        finally:
            server.stop()


def prepare_release(svc: Services, slots: list[str], per_slot: int, numbers: object) -> None:
    """Fill each slot, queue as many waiters, cancel every booking: the places are freed for the waiters."""
    serials = []
    for slot_id in slots:
        for _ in range(per_slot):
            acct, patient = svc.patient(next(numbers))  # type: ignore[call-overload]
            serials.append(svc.booking.book(patient.pid, acct, "wechat", slot_id).serial)
        for _ in range(per_slot):
            n = next(numbers)  # type: ignore[call-overload]
            acct, patient = svc.patient(n)
            svc.waitlist.join(patient.pid, acct, "wechat", f"openid-{n}", slot_id)
    for serial in serials:
        svc.booking.cancel(serial, "patient:wechat")


if __name__ == "__main__":
    main()
