"""The one delivery ledger (bot/delivery.py), against a real redis-server: once per key, retries get the first
delivery's reply (sealed at rest), a failed first delivery lets go, a hand-over to the worker is
seen by every retry."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from bot.crypto import SecretBox
from bot.delivery import PENDING, PENDING_TTL_S, DeliveryLedger, State

KEY = "test:seen:sms:SM0001"
BOX = SecretBox("k" * 32)


@pytest.fixture
def ledger(redis_db: redis.Redis) -> DeliveryLedger:
    return DeliveryLedger(redis_db, BOX, retry_wait_s=2.0)


def test_an_action_runs_once_per_key_and_the_retry_gets_its_replies(ledger: DeliveryLedger) -> None:
    runs: list[int] = []
    action = lambda: runs.append(1) or ["已退订 王小明"]  # noqa: E731
    assert ledger.once(KEY, action) == ["已退订 王小明"]
    assert ledger.once(KEY, action) == ["已退订 王小明"]
    assert ledger.once(None, action) == ["已退订 王小明"]
    assert len(runs) == 2, "the retry did not run it again; no key, no dedupe"


def test_the_stored_reply_is_sealed_and_bound_to_its_key(ledger: DeliveryLedger, redis_db: redis.Redis) -> None:
    ledger.once(KEY, lambda: ["王小明"])
    stored = redis_db.get(KEY)
    assert stored is not None and stored.startswith(b"v1:") and "王小明".encode() not in stored
    redis_db.set("test:other", stored)
    assert ledger.replies_of("test:other", stored) == [], "a reply moved to another key does not open"


def test_a_retry_during_the_first_delivery_waits_for_its_reply(ledger: DeliveryLedger) -> None:
    started = threading.Event()
    answers: list[list[str]] = []

    def slow() -> list[str]:
        started.set()
        time.sleep(0.3)
        return ["done"]

    first = threading.Thread(target=lambda: answers.append(ledger.once(KEY, slow)))
    first.start()
    started.wait(5)
    assert ledger.once(KEY, lambda: ["second run"]) == ["done"]
    first.join(5)
    assert answers == [["done"]]


def test_a_retry_gives_up_waiting_with_no_reply(redis_db: redis.Redis) -> None:
    ledger = DeliveryLedger(redis_db, BOX, retry_wait_s=0.1)
    redis_db.set(KEY, PENDING, ex=PENDING_TTL_S)
    assert ledger.once(KEY, lambda: ["second run"]) == []


def test_a_failed_first_delivery_lets_the_next_retry_process_it(ledger: DeliveryLedger) -> None:
    def broken() -> list[str]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ledger.once(KEY, broken)
    assert ledger.once(KEY, lambda: ["processed"]) == ["processed"]


def test_a_pending_claim_expires_so_a_crash_never_silences_a_message(
    ledger: DeliveryLedger, redis_db: redis.Redis
) -> None:
    ttls: list[int] = []
    ledger.once(KEY, lambda: ttls.append(int(redis_db.ttl(KEY))) or [])
    assert 0 < ttls[0] <= PENDING_TTL_S, "while pending, the claim lives seconds, not a day"
    assert redis_db.ttl(KEY) > PENDING_TTL_S, "the stored reply is kept for retries"


def test_release_frees_a_pending_claim_only(ledger: DeliveryLedger, redis_db: redis.Redis) -> None:
    redis_db.set(KEY, PENDING)
    ledger.release(KEY)
    assert redis_db.get(KEY) is None
    ledger.once(KEY, lambda: ["kept"])
    ledger.release(KEY)
    assert ledger.once(KEY, lambda: ["again"]) == ["kept"], "a stored reply is never released"


def test_a_hand_over_turns_a_pending_claim_into_pushed(ledger: DeliveryLedger, redis_db: redis.Redis) -> None:
    until = time.monotonic()
    assert ledger.settled(KEY, None, until).state == State.GONE
    redis_db.set(KEY, PENDING)
    assert ledger.settled(KEY, PENDING, until).state == State.PENDING, "still pending when the retry's time is up"
    assert ledger.hand_over(KEY)
    assert ledger.settled(KEY, redis_db.get(KEY), until) == (State.PUSHED, [])
    assert not ledger.hand_over(KEY), "only a pending claim is handed over"
    redis_db.set(KEY, ledger.seal(KEY, ["稍后推送"], pushed=True))
    assert ledger.settled(KEY, redis_db.get(KEY), until) == (State.PUSHED, ["稍后推送"])
    assert ledger.replies_of(KEY, redis_db.get(KEY)) == [], "a retry never answers what the worker pushes"
    assert not ledger.hand_over(KEY)
    redis_db.set(KEY, ledger.seal(KEY, ["已回复"]))
    assert ledger.settled(KEY, redis_db.get(KEY), until) == (State.REPLIED, ["已回复"])
