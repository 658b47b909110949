"""The one delivery ledger of every channel: each inbound delivery is processed once, a platform retry gets the
first delivery's reply (waiting a while for it), and that stored reply is sealed, since it may name a patient.

A delivery key holds :data:`PENDING` while the first delivery is being processed (for :data:`PENDING_TTL_S` at
most, so a crashed process never silences a message), then the sealed reply for :data:`REPLY_TTL_S`. The engine
makes its claim inside ``dialog_begin.lua`` (with the lock and the session, one round trip) and stores the reply in
``dialog_end.lua``; what an adapter answers itself (SMS opt-out/in) goes through :meth:`DeliveryLedger.once`. The
ledger also keeps the push markers of a channel that pushes late or long replies later (WeChat), so those go once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from bot.crypto import DecryptionError, SecretBox
from bot.records import text as text_of
from bot.storage.scripts import Scripts

PENDING = b"\x00pending"
PENDING_TTL_S = 30
REPLY_TTL_S = 24 * 3600
RETRY_WAIT_S = 4.5
"""How long a platform retry waits for the first delivery's reply (WeChat gives up after 5 s)."""
MARK_TTL_S = 24 * 3600
_POLL_S = 0.02


class DeliveryLedger:
    """Claims, stored replies and push markers of inbound deliveries, by delivery key (``bot.storage.keys``)."""

    def __init__(self, client: redis.Redis, box: SecretBox, *, retry_wait_s: float = RETRY_WAIT_S) -> None:
        self._redis = client
        self._box = box
        self._retry_wait_s = retry_wait_s
        self._scripts = Scripts(client, "dialog_abandon")

    def once(self, key: str | None, action: Callable[[], list[str]]) -> list[str]:
        """Run ``action`` once per delivery key (always, without one); a retry gets the first replies."""
        if not key:
            return action()
        if not self._redis.set(key, PENDING, nx=True, ex=PENDING_TTL_S):
            return self.replies_of(key, self._redis.get(key))
        try:
            replies = action()
        except BaseException:
            self.release(key)
            raise
        self._redis.set(key, self.seal(key, replies), ex=REPLY_TTL_S)
        return replies

    def seal(self, key: str, replies: list[str]) -> str:
        """The replies as stored under ``key``: encrypted, bound to that key (they open for that delivery only)."""
        return self._box.encrypt_json(replies, context=_context(key))

    def release(self, key: str) -> None:
        """Give up a claim still pending (the step could not run): the platform's next retry processes it."""
        self._scripts.run("dialog_abandon", [key], [PENDING])

    def replies_of(self, key: str, stored: Any) -> list[str]:
        """The first delivery's replies, given what ``key`` held when this retry found it claimed: waited for while
        pending (up to the retry wait), none when the first gave up, is still working, or sealed under another key."""
        deadline = time.monotonic() + self._retry_wait_s
        while stored is not None and text_of(stored) == PENDING.decode() and time.monotonic() <= deadline:
            time.sleep(_POLL_S)
            stored = self._redis.get(key)
        if stored is None or text_of(stored) == PENDING.decode():
            return []
        try:
            replies: list[str] = self._box.decrypt_json(text_of(stored), context=_context(key))
        except DecryptionError:  # stored under another secret_key, or moved from another key
            return []
        return replies

    # --- push markers: what is pushed after the answer is pushed once -------------------------------------
    def mark(self, key: str) -> str | None:
        """The push marker under ``key`` ("deferred", "overflow"...), None when nothing was marked."""
        value = self._redis.get(key)
        return None if value is None else text_of(value)

    def set_mark(self, key: str, value: str) -> bool:
        """Set the push marker under ``key`` unless one is already set; whether this call set it."""
        return bool(self._redis.set(key, value, nx=True, ex=MARK_TTL_S))


def _context(key: str) -> str:
    """What a stored reply is bound to: its delivery key."""
    return f"reply:{key}"
