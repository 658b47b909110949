"""Flat combining: concurrent callers hand their requests to whichever of them is already talking to Redis.

Under the 7 a.m. rush many threads of one process book at once. Each booking is two round trips (read the facts,
commit); done thread by thread, most of the time goes to redis-py's per-call work and to threads handing the GIL
to each other. Here the first caller becomes the *combiner*: it takes every waiting request (up to ``max_batch``),
sends their reads in one pipeline and their commits in another, and wakes each caller with its own result; the
others sleep until then. With a single caller nothing changes but a lock. Each request keeps its own atomic Lua
script, so correctness does not depend on the batching.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass
class Ticket(Generic[Request, Result]):
    """One caller's request and, once processed, its result or error."""

    request: Request
    attempts: int = 0
    carry: Any = None  # what ``process`` left for the next round (e.g. data read ahead)
    result: Result | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def succeed(self, result: Result) -> None:
        """Hand the result to the waiting caller."""
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        """Hand an error to the waiting caller (raised in its own thread)."""
        self.error = error
        self.done.set()


class Combiner(Generic[Request, Result]):
    """Runs ``process`` on batches of the requests waiting at the moment; ``process`` settles each ticket or
    returns the ones to try again in the next batch."""

    def __init__(self, process: Callable[[list[Ticket[Request, Result]]], list[Ticket[Request, Result]]],
                 max_batch: int = 32) -> None:  # fmt: skip
        self._process = process
        self._max_batch = max_batch
        self._waiting: deque[Ticket[Request, Result]] = deque()
        self._waiting_lock = threading.Lock()
        self._combining = threading.Lock()  # (two combiners at once measured no better: noise)

    def submit(self, request: Request) -> Result:
        """Process ``request`` (in this thread or by the current combiner) and return its result."""
        ticket: Ticket[Request, Result] = Ticket(request)
        with self._waiting_lock:
            self._waiting.append(ticket)
        while not ticket.done.is_set():
            self._combine()
            # another thread is combining: it takes our ticket too (it looks again before it lets go), so sleep
            # until woken; the timeout only guards against a combiner that died
            ticket.done.wait(1.0)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _combine(self) -> None:
        """Become the combiner if nobody is, and stay one while requests keep arriving."""
        while self._combining.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._combining.release()
            with self._waiting_lock:
                if not self._waiting:  # nothing arrived between the last batch and letting go
                    return

    def take(self, count: int) -> list[Ticket[Request, Result]]:
        """Up to ``count`` waiting tickets, for ``process`` to start on early (it returns them to be finished)."""
        with self._waiting_lock:
            return [self._waiting.popleft() for _ in range(min(len(self._waiting), count))]

    def _drain(self) -> None:
        while True:
            batch = self.take(self._max_batch)
            if not batch:
                return
            try:
                again = self._process(batch)
            except BaseException as failure:  # a batch that fails as a whole fails each of its callers
                for ticket in batch:
                    if not ticket.done.is_set():
                        ticket.fail(failure)
                continue
            with self._waiting_lock:
                self._waiting.extendleft(reversed(again))  # ahead of newer arrivals: first come, first served
