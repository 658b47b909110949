"""Dialog sessions: one Redis hash per account (state, data, language, schema version, last activity).

Like aiogram's storage: a key type (the account), state and data saved together in one hash with one expiry. The
engine reads and writes it inside its own round trips (``dialog_end.lua`` saves it atomically with the reply and
the lock release). A session is kept for a day in Redis, but one idle for 30 minutes on the deployment's clock
(which the simulator moves) starts over at the menu. A stored state from another schema version resets gracefully.
The step's ``data`` can hold personal data (what was typed before the code is confirmed; whatever a dialog remembers
next), so it is stored encrypted as one blob, bound to its account, whatever it holds; a blob that does not decrypt
(another ``secret_key``, tampered, another account's) resets like an unknown state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.crypto import DecryptionError, SecretBox
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


def _data_context(acct: str) -> str:
    return f"session.data:{acct}"


def seal_data(box: SecretBox, acct: str, data: dict[str, Any]) -> str:
    """The stored form of a session's ``data``: encrypted, bound to the account."""
    return box.encrypt_json(data, context=_data_context(acct))


def session_from_hash(raw: RawHash, box: SecretBox, acct: str) -> Session:
    """The session stored in ``acct``'s ``keys.session`` hash (a fresh one when there is none)."""
    fields = decode_hash(raw)
    if not fields:
        return Session()
    try:
        data = box.decrypt_json(fields["data"], context=_data_context(acct)) if "data" in fields else {}
        if not isinstance(data, dict):
            raise TypeError("session data is not an object")
        return Session(
            state=fields.get("state", START_STATE),
            data=data,
            language=fields.get("language", "zh"),
            updated_at=datetime.fromisoformat(fields["updated_at"]) if fields.get("updated_at") else None,
            schema=int(fields.get("schema", "0")),
            is_new=False,
        )
    except (ValueError, TypeError, DecryptionError):
        return Session(language=fields.get("language", "zh"), schema=-1, is_new=False)  # unreadable: start over


def session_fields(session: Session, now: datetime, box: SecretBox, acct: str) -> dict[str, str]:
    """What is stored of ``acct``'s session: state and (sealed) data together, the language, the schema version."""
    return {
        "state": session.state,
        "data": seal_data(box, acct, session.data),
        "language": session.language,
        "updated_at": now.isoformat(),
        "schema": str(SCHEMA_VERSION),
    }
