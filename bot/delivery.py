"""The one delivery ledger of every channel: each inbound delivery is processed once, a platform retry gets the
first delivery's reply (waiting a while for it), and that stored reply is sealed, since it may name a patient.

A delivery key holds :data:`PENDING` while the first delivery is being processed (for :data:`PENDING_TTL_S` at
most, so a crashed process never silences a message), then the sealed reply for :data:`REPLY_TTL_S`. The engine
makes its claim inside ``dialog_begin.lua`` (with the lock and the session, one round trip) and stores the reply in
``dialog_end.lua``; what an adapter answers itself (SMS opt-out/in) goes through :meth:`DeliveryLedger.once`. The
ledger also tells a retry what became of the first delivery (:meth:`DeliveryLedger.settled`): replied (the same
replies), still pending (wait for it, up to the retry's own deadline), or handed to the worker (:data:`DEFERRED` while
the worker has yet to run the step, :data:`LATE` + the sealed replies once it ran): then the worker pushes the reply
and the retry answers nothing, so what is pushed later is never also answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

import redis

from bot.crypto import DecryptionError, SecretBox
from bot.records import text as text_of
from bot.storage.scripts import Scripts

PENDING = b"\x00pending"
DEFERRED = b"\x00deferred"
"""A delivery handed to the worker before its step ran (the lock could not be had in time)."""
LATE = "\x00late:"
"""Before the sealed replies of a step whose reply the worker pushes (it ran late, or in the worker)."""
PENDING_TTL_S = 30
REPLY_TTL_S = 24 * 3600
RETRY_WAIT_S = 4.5
"""How long a platform retry waits for the first delivery's reply (WeChat gives up after 5 s)."""
_POLL_S = 0.02


class State(StrEnum):
    """What became of a delivery, as a retry of it finds it."""

    PENDING = "pending"  # the first delivery is still being processed
    REPLIED = "replied"  # answered: a retry gets the same replies
    PUSHED = "pushed"  # handed to the worker, which pushes the reply: a retry answers nothing
    GONE = "gone"  # no trace, or sealed under another key: nothing to answer


class Settled(NamedTuple):
    """A delivery's state and, when answered or pushed, its replies."""

    state: State
    replies: list[str]


class DeliveryLedger:
    """Claims, stored replies and hand-overs of inbound deliveries, by delivery key (``bot.storage.keys``)."""

    def __init__(self, client: redis.Redis, box: SecretBox, *, retry_wait_s: float = RETRY_WAIT_S) -> None:
        self._redis = client
        self._box = box
        self._retry_wait_s = retry_wait_s
        self._scripts = Scripts(client, "dialog_abandon", "dialog_defer")

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

    def seal(self, key: str, replies: list[str], *, pushed: bool = False) -> str:
        """The replies as stored under ``key``: encrypted, bound to that key (they open for that delivery only);
        ``pushed``: the worker pushes them (a retry answers nothing)."""
        sealed = self._box.encrypt_json(replies, context=_context(key))
        return LATE + sealed if pushed else sealed

    def release(self, key: str) -> None:
        """Give up a claim still pending (the step could not run): the platform's next retry processes it."""
        self._scripts.run("dialog_abandon", [key], [PENDING])

    def hand_over(self, key: str) -> bool:
        """Mark a claim still pending as handed to the worker (:data:`DEFERRED`); whether it was still pending."""
        return bool(self._scripts.run("dialog_defer", [key], [PENDING, DEFERRED, REPLY_TTL_S]))

    def replies_of(self, key: str, stored: Any) -> list[str]:
        """The first delivery's replies, given what ``key`` held when this retry found it claimed: waited for while
        pending (up to the retry wait); none when the first gave up, is still working, or sealed under another key."""
        settled = self.settled(key, stored, time.monotonic() + self._retry_wait_s)
        return settled.replies if settled.state == State.REPLIED else []

    def settled(self, key: str, stored: Any, until: float) -> Settled:
        """What became of the delivery under ``key``, given what it held (``stored``): polled while pending, until
        the monotonic time ``until`` (a retry's own deadline)."""
        while stored is not None and text_of(stored) == PENDING.decode() and time.monotonic() < until:
            time.sleep(_POLL_S)
            stored = self._redis.get(key)
        if stored is None:
            return Settled(State.GONE, [])
        value = text_of(stored)
        if value == PENDING.decode():
            return Settled(State.PENDING, [])
        if value == DEFERRED.decode():
            return Settled(State.PUSHED, [])
        late = value.startswith(LATE)
        try:
            replies: list[str] = self._box.decrypt_json(value.removeprefix(LATE), context=_context(key))
        except DecryptionError:  # stored under another secret_key, or moved from another key
            return Settled(State.GONE, [])
        return Settled(State.PUSHED if late else State.REPLIED, replies)


def _context(key: str) -> str:
    """What a stored reply is bound to: its delivery key."""
    return f"reply:{key}"
