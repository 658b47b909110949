"""Dialog sessions: one Redis hash per account (state, data, language, schema version, last activity).

Like aiogram's storage: a key type (the account), a small interface, a Redis implementation; state and data saved
together. A session is kept for a day in Redis, but one idle for 30 minutes on the deployment's clock (which the
simulator moves) starts over at the menu. A stored state from another schema version resets gracefully.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis

from bot import keys
from bot.records import decode_hash

SCHEMA_VERSION = 1
IDLE_TIMEOUT = timedelta(minutes=30)
KEEP_FOR = timedelta(days=1)
START_STATE = "menu.main"


@dataclass
class Session:
    """What the bot remembers of one conversation."""

    state: str = START_STATE
    data: dict[str, Any] = field(default_factory=dict)
    language: str = "zh"
    updated_at: datetime | None = None
    schema: int = SCHEMA_VERSION
    is_new: bool = True

    def idle(self, now: datetime) -> bool:
        """Whether the conversation was left alone for longer than the idle timeout."""
        return self.updated_at is not None and now - self.updated_at > IDLE_TIMEOUT

    def reset(self) -> None:
        """Back to the menu, forgetting the step's data (the language stays)."""
        self.state = START_STATE
        self.data = {}


class SessionStore:
    """Loads and saves sessions in Redis."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    def load(self, acct: str) -> Session:
        """The account's session, or a fresh one."""
        raw = decode_hash(self.redis.hgetall(keys.session(acct)))
        if not raw:
            return Session()
        try:
            return Session(
                state=raw.get("state", START_STATE),
                data=json.loads(raw.get("data", "{}")),
                language=raw.get("language", "zh"),
                updated_at=datetime.fromisoformat(raw["updated_at"]) if raw.get("updated_at") else None,
                schema=int(raw.get("schema", "0")),
                is_new=False,
            )
        except (ValueError, TypeError):
            return Session(language=raw.get("language", "zh"), schema=-1, is_new=False)  # unreadable: start over

    def save(self, acct: str, session: Session, now: datetime) -> None:
        """Store the session (one hash, one expiry)."""
        key = keys.session(acct)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "state": session.state,
                "data": json.dumps(session.data, ensure_ascii=False),
                "language": session.language,
                "updated_at": now.isoformat(),
                "schema": SCHEMA_VERSION,
            },
        )
        pipe.expire(key, KEEP_FOR)
        pipe.execute()
