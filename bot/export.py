"""Reading the archive back (``guahao export``): appointments by visit date, audit entries by their date.

The archive files (``bot.archive``) are read for the days asked, optionally together with what is still in Redis;
an entry is given once (its last line: an entry archived again after a change). An appointment's patient is
decrypted in memory and shown masked (``110105********123X``) unless the export is *unmasked*, which needs a reason
and is itself written to the audit trail (action ``export_unmasked``, the reason masked) before a line is produced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import redis

import rules
from bot.archive import APPOINTMENTS, AUDIT, PATIENT_FIELDS, days_between
from bot.archive_files import ArchiveFiles
from bot.clock import Clock
from bot.config import Config
from bot.crypto import DecryptionError, SecretBox
from bot.errors import GuahaoError
from bot.patients import Field
from bot.records import decode_hash, text
from bot.storage import keys

_MASKS = {Field.NAME_ENC: rules.mask_name, Field.ID_ENC: rules.mask_id, Field.PHONE_ENC: rules.mask_phone}
_SHOWN = {Field.NAME_ENC: "name", Field.ID_ENC: "id_number", Field.PHONE_ENC: "phone"}


@dataclass(frozen=True)
class ExportRequest:
    """What to export: a kind, a range of dates (both included), masked or not, and whether to add what Redis
    still holds."""

    kind: str
    start: date
    end: date
    unmasked: bool = False
    reason: str = ""
    include_redis: bool = False

    def check(self) -> None:
        """A :class:`GuahaoError` (one line) for a request that makes no sense."""
        if self.kind not in (APPOINTMENTS, AUDIT):
            raise GuahaoError(f"--kind: expected appointments or audit, got {self.kind!r}")
        if self.end < self.start:
            raise GuahaoError(f"--to {self.end} is before --from {self.start}")
        if self.unmasked and not self.reason.strip():
            raise GuahaoError("--unmasked needs --reason (it is written to the audit trail)")


class Exporter:
    """Reads archived (and live) entries for staff and auditors."""

    def __init__(self, redis_client: redis.Redis, config: Config, clock: Clock, box: SecretBox, files: ArchiveFiles):
        self.redis = redis_client
        self.config = config
        self.clock = clock
        self.box = box
        self.files = files

    def export(self, request: ExportRequest, actor: str) -> Iterator[dict[str, Any]]:
        """The entries asked for, oldest day first (an unmasked export is audited before anything is read)."""
        request.check()
        if request.unmasked:
            self._audit_unmasked(request, actor)
        found: dict[str, dict[str, Any]] = {}
        for day in days_between(request.start, request.end):
            for line in self.files.read(f"{request.kind}/{day}.jsonl"):
                found[line["id"]] = {**line, "source": "archive"}
        if request.include_redis:
            for line in self._live(request):
                found[line["id"]] = line
        for line in found.values():
            yield self._shown(line, request.unmasked)

    def _audit_unmasked(self, request: ExportRequest, actor: str) -> None:
        detail = (
            f"kind={request.kind} from={request.start} to={request.end} reason={rules.mask_personal(request.reason)}"
        )
        at = self.clock.now().astimezone(self.config.policy.tz).isoformat(timespec="seconds")
        self.redis.xadd(
            keys.AUDIT,
            {"at": at, "actor": actor, "action": "export_unmasked", "serial": "", "pid": "", "detail": detail},
        )

    def _shown(self, line: dict[str, Any], unmasked: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": line["id"], "kind": line["kind"], "source": line.get("source", "archive")}
        shown.update(line.get("record", {}))
        if line["kind"] == APPOINTMENTS:
            shown["patient"] = self._patient(line.get("patient", {}), unmasked)
        return shown

    def _patient(self, sealed: dict[str, str], unmasked: bool) -> dict[str, str]:
        patient = {}
        for name, context in PATIENT_FIELDS.items():
            token = sealed.get(name)
            if not token:
                continue
            try:
                clear = self.box.decrypt(token, context=context)
            except DecryptionError:
                patient[_SHOWN[name]] = "(does not decrypt with this secret_key)"
                continue
            patient[_SHOWN[name]] = clear if unmasked else _MASKS[name](clear)
        return patient

    def _live(self, request: ExportRequest) -> Iterator[dict[str, Any]]:
        tz = self.config.policy.tz
        if request.kind == AUDIT:
            for stream_id, raw in self.redis.xrange(keys.AUDIT) or []:
                fields = decode_hash(raw or {})
                with contextlib.suppress(ValueError):
                    if (
                        request.start
                        <= datetime.fromisoformat(fields.get("at", "")).astimezone(tz).date()
                        <= request.end
                    ):
                        yield {"id": f"audit:{text(stream_id)}", "kind": AUDIT, "record": fields, "source": "redis"}
            return
        low = _moment(request.start, tz, days=-1)  # a zone west of the platform's
        high = _moment(request.end, tz, days=2)
        serials = [text(s) for s in self.redis.zrangebyscore(keys.ALL_APPOINTMENTS, low, high)]
        pipe = self.redis.pipeline(transaction=False)
        for serial in serials:
            pipe.hgetall(keys.appointment(serial))
        for raw in pipe.execute():
            record = decode_hash(raw)
            if not record or not request.start.isoformat() <= record.get("date", "") <= request.end.isoformat():
                continue
            sealed = self.redis.hmget(keys.patient(record.get("pid", "")), list(PATIENT_FIELDS))
            patient = {name: text(v) for name, v in zip(PATIENT_FIELDS, sealed, strict=True) if v}
            yield {
                "id": f"appt:{record.get('serial', '')}",
                "kind": APPOINTMENTS,
                "record": record,
                "patient": patient,
                "source": "redis",
            }


def _moment(day: date, tz: tzinfo, *, days: int) -> float | str:
    """The score of midnight ``days`` after ``day``; past the calendar's ends (``--to 9999-12-31``, ``--from
    0001-01-01``) Redis's own infinities, so that such a range means "everything" instead of an OverflowError."""
    try:
        return (datetime.combine(day, time(), tzinfo=tz) + timedelta(days=days)).timestamp()
    except OverflowError:
        return "-inf" if days < 0 else "+inf"
