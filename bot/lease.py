"""A lease in Redis: one holder at a time for a duty that several processes could run (SPEC §7, several machines).

``lease_renew.lua`` takes the lease when it is free (``SET NX PX``) or extends it when the caller already holds it
(its random token checked, so a holder whose lease lapsed and was taken by another never extends or releases the
new holder's); ``lease_release.lua`` gives it back only if still held. A holder that dies simply stops renewing:
the lease lapses after ``ttl_ms`` and another process takes it at its next try.

The worker's periodic tick (no-show sweep, reminder dispatch, day releases, abandoned broadcasts, settlements) runs
under the lease ``periodic`` (``app.worker``): with any number of workers it runs in one of them at a time. The
duties are idempotent besides, so a tick cut short by a lapse and run again elsewhere doubles nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket

import redis

from bot.records import text
from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)


class Lease:
    """One process's claim on the duty ``duty``: :meth:`hold` before each run, :meth:`release` when stopping."""

    def __init__(self, client: redis.Redis, duty: str, ttl_ms: int) -> None:
        self.key = keys.lease(duty)
        self.ttl_ms = ttl_ms
        # who holds it, for an operator reading the key (and a random part: a restarted pid is another holder)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self.held = False
        self._scripts = Scripts(client, "lease_renew", "lease_release")
        self._redis = client

    def hold(self) -> bool:
        """Take the lease if free, extend it if ours; whether this process holds it now (a change is logged)."""
        held = bool(self._scripts.run("lease_renew", [self.key], [self.token, self.ttl_ms]))
        if held != self.held:
            log.info("lease %s", "taken" if held else "lost", extra={"lease": self.key, "holder": self.token})
        self.held = held
        return held

    def release(self) -> bool:
        """Give the lease back if this process still holds it (the next holder need not wait for it to lapse)."""
        self.held = False
        return bool(self._scripts.run("lease_release", [self.key], [self.token]))

    def holder(self) -> str | None:
        """The token of the current holder, if any (for ``/healthz`` and tests)."""
        found = self._redis.get(self.key)
        return None if found is None else text(found)
