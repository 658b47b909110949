"""Flat combining: every caller gets its own answer, whoever processed it; retries and failures reach the caller."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from bot.combiner import Combiner, Ticket


def test_each_caller_gets_its_own_result_from_batches() -> None:
    batches: list[int] = []

    def process(batch: list[Ticket[int, int]]) -> list[Ticket[int, int]]:
        batches.append(len(batch))
        time.sleep(0.002)  # as a round trip to Redis would: callers arriving meanwhile wait for the next batch
        again = []
        for ticket in batch:
            if ticket.request % 7 == 0 and ticket.attempts == 0:  # some must be decided twice
                ticket.attempts += 1
                again.append(ticket)
            else:
                ticket.succeed(ticket.request * 10)
        return again

    combiner: Combiner[int, int] = Combiner(process, max_batch=16)
    results: dict[int, int] = {}
    barrier = threading.Barrier(64)

    def call(n: int) -> None:
        barrier.wait()
        results[n] = combiner.submit(n)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: n * 10 for n in range(64)}
    assert sum(batches) == 64 + len([n for n in range(64) if n % 7 == 0])
    assert max(batches) > 1, "concurrent callers were combined"


def test_a_failing_batch_fails_its_callers_and_the_next_ones_still_work() -> None:
    calls = Counter[str]()

    def process(batch: list[Ticket[str, str]]) -> list[Ticket[str, str]]:
        calls["batches"] += 1
        if any(ticket.request == "boom" for ticket in batch):
            raise ConnectionError("redis went away")
        for ticket in batch:
            if ticket.request == "refused":
                ticket.fail(ValueError("refused"))
            else:
                ticket.succeed(ticket.request.upper())
        return []

    combiner: Combiner[str, str] = Combiner(process)
    with pytest.raises(ConnectionError):
        combiner.submit("boom")
    with pytest.raises(ValueError, match="refused"):
        combiner.submit("refused")
    assert combiner.submit("ok") == "OK"
