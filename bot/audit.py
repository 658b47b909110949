"""The audit trail: every state change of an appointment or a standing, and every staff action, in one Redis stream.

Changes of an appointment or a standing are written by their Lua scripts in the same atomic step as the change
itself; this module names the actors, records the staff actions that change no appointment (:func:`record`), and
reads the trail back. No personal data goes in: patients appear as their pid (a keyed hash).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.records import decode_hash, text, texts_or_empty
from bot.storage import keys

SYSTEM = "system"


def patient_actor(channel: str) -> str:
    """The actor of a change a patient made over a channel (``patient:wechat``)."""
    return f"patient:{channel}"


def staff_actor(token_name: str) -> str:
    """The actor of a change made with a staff token (``staff:front-desk``) or the staff CLI."""
    return f"staff:{token_name}"


@dataclass(frozen=True)
class AuditEntry:
    """One line of the trail."""

    id: str
    at: str
    actor: str
    action: str
    serial: str
    pid: str
    detail: str


def read_audit(redis_client: redis.Redis, *, serial: str | None = None, count: int = 10_000) -> list[AuditEntry]:
    """The oldest ``count`` entries (of one appointment when ``serial`` is given), in order."""
    entries = []
    for entry_id, raw in redis_client.xrange(keys.AUDIT, count=count) or []:
        fields = decode_hash(raw or {})
        if serial is not None and fields.get("serial") != serial:
            continue
        entries.append(
            AuditEntry(id=text(entry_id), **texts_or_empty(fields, "at", "actor", "action", "serial", "pid", "detail"))
        )
    return entries
