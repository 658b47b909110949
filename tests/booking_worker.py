"""A booking process for the multi-process concurrency test (spawned: it builds its own client and services)."""

from __future__ import annotations

import redis

from bot.booking import BookingRefused
from tests.support import make_services


def book_many(url: str, bookers: list[tuple[str, str]], slot: str) -> list[str]:
    """Book ``slot`` for each (pid, acct) as fast as possible; the serials that succeeded."""
    client = redis.Redis.from_url(url)
    services = make_services(client)
    serials = []
    for pid, acct in bookers:
        try:
            serials.append(services.booking.book(pid, acct, "sms", slot).serial)
        except BookingRefused as refused:
            assert refused.decision.rule == "slot_full", refused
    client.close()
    return serials
