"""Dialog sessions: one Redis hash per account (state, data, language, schema version, last activity).

Like aiogram's storage: a key type (the account), state and data saved together in one hash with one expiry. The
engine reads and writes it inside its own round trips (``dialog_end.lua`` saves it atomically with the reply and
the lock release). A session is kept for a day in Redis, but one idle for 30 minutes on the deployment's clock
(which the simulator moves) starts over at the menu. A stored state from another schema version resets gracefully.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.records import RawHash, decode_hash

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


def session_from_hash(raw: RawHash) -> Session:
    """The session stored in a ``keys.session`` hash (a fresh one when there is none)."""
    fields = decode_hash(raw)
    if not fields:
        return Session()
    try:
        return Session(
            state=fields.get("state", START_STATE),
            data=json.loads(fields.get("data", "{}")),
            language=fields.get("language", "zh"),
            updated_at=datetime.fromisoformat(fields["updated_at"]) if fields.get("updated_at") else None,
            schema=int(fields.get("schema", "0")),
            is_new=False,
        )
    except (ValueError, TypeError):
        return Session(language=fields.get("language", "zh"), schema=-1, is_new=False)  # unreadable: start over


def session_fields(session: Session, now: datetime) -> dict[str, str]:
    """What is stored of a session: state and data together, with the language and the schema version."""
    return {
        "state": session.state,
        "data": json.dumps(session.data, ensure_ascii=False),
        "language": session.language,
        "updated_at": now.isoformat(),
        "schema": str(SCHEMA_VERSION),
    }
