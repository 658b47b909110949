"""Where a broadcast stands (``keys.broadcast``), as the staff API, the CLI and the batches read it (SPEC §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class BroadcastStatus(StrEnum):
    """Where a broadcast stands (SPEC §6)."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


FINISHED = (BroadcastStatus.done.value, BroadcastStatus.failed.value)


@dataclass(frozen=True)
class BroadcastProgress:
    """The state of a broadcast: ``total`` appointments selected; ``sent``, ``failed`` and ``skipped`` (no longer
    booked when their turn came) add up to ``total`` once it is finished."""

    id: str
    status: BroadcastStatus
    total: int
    sent: int
    failed: int
    skipped: int
    cancel: bool
    hospital: str = ""
    """Whose appointments: what a staff token's scope is checked against (SPEC §7)."""

    @classmethod
    def from_hash(cls, broadcast_id: str, fields: Mapping[str, str]) -> BroadcastProgress:
        """Build from the decoded ``keys.broadcast`` hash."""
        return cls(
            id=broadcast_id,
            status=BroadcastStatus(fields.get("status", "queued")),
            total=int(fields.get("total", "0")),
            sent=int(fields.get("sent", "0")),
            failed=int(fields.get("failed", "0")),
            skipped=int(fields.get("skipped", "0")),
            cancel=fields.get("cancel") == "1",
            hospital=fields.get("hospital", ""),
        )

    @property
    def processed(self) -> int:
        """Recipients dealt with so far."""
        return self.sent + self.failed + self.skipped

    @property
    def finished(self) -> bool:
        """Whether nothing is left to do."""
        return self.status.value in FINISHED

    def to_json(self) -> dict[str, Any]:
        """The staff API's answer (SPEC §4), with ``skipped`` beside."""
        return {
            "id": self.id,
            "status": self.status.value,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
        }
