"""Processes for the waitlist race tests (spawned: each builds its own client and services on the deployment clock
that lives in Redis, as every process of a deployment does)."""

from __future__ import annotations

import time

import redis

from bot.clock import RedisClock
from bot.waitlist import OfferGone, WaitlistRefused
from tests.support import make_services

READY = "test:race:ready"
GO = "test:race:go"


def _ready(client: redis.Redis) -> float:
    """Say this process is ready, wait for the go (a wall time of Redis's own), then return after that delay."""
    client.incr(READY)
    while not client.exists(GO):
        time.sleep(0.001)
    return float(client.get(GO) or 0)


def claim_all(url: str, claims: list[tuple[str, str]], delay: float) -> dict[str, str]:
    """Claim each (acct, entry id) once, ``delay`` seconds after the go; entry id -> serial or why not."""
    client = redis.Redis.from_url(url)
    services = make_services(client, clock=RedisClock(client))
    outcomes: dict[str, str] = {}
    start = _ready(client) + delay
    while time.time() < start:
        time.sleep(0.001)
    for acct, entry_id in claims:
        time.sleep(0.03)  # spread over the moment the holds lapse
        try:
            outcomes[entry_id] = services.waitlist.claim(acct, entry_id).serial
        except OfferGone as gone:
            outcomes[entry_id] = f"gone:{gone.why}"
        except WaitlistRefused as refused:
            outcomes[entry_id] = f"refused:{refused.decision.rule}"
    client.close()
    return outcomes


def sweep(url: str, seconds: float) -> int:
    """Run the waitlist's periodic duty over and over for ``seconds`` after the go; the holds it ended."""
    client = redis.Redis.from_url(url)
    services = make_services(client, clock=RedisClock(client))
    until = _ready(client) + seconds
    ended = 0
    while time.time() < until:
        ended += services.waitlist.tick().expired
    client.close()
    return ended


def offer_everything(url: str) -> None:
    """Offer every freed place (the worker's duty), signalling once started; the test kills this process."""
    client = redis.Redis.from_url(url)
    services = make_services(client)
    client.incr(READY)
    while services.waitlist.offer_pending():
        pass
