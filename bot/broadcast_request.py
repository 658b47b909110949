"""What staff ask a broadcast for, checked against the configuration (a pydantic model: every bad field reported)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationInfo

from bot.crypto import SecretBox
from bot.validation import config_of, invalid

MAX_TEXT = 50
"""The hospital's words in a broadcast: each patient gets them in one SMS of two segments (SPEC §5) with which
appointment it is about, in Chinese or English, with the longest names (tests/test_sms_budget.py)."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _hospital(value: Any, info: ValidationInfo) -> str:
    found = config_of(info).hospital(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise invalid(f"hospital: unknown hospital {value!r}")
    return found.id


def _department(value: Any, info: ValidationInfo) -> str | None:
    if value in (None, ""):
        return None
    hospital = config_of(info).hospital(info.data.get("hospital", ""))
    if not isinstance(value, str) or (hospital is not None and hospital.department(value.strip()) is None):
        raise invalid(f"department: {info.data.get('hospital')} has no department {value!r}")
    return value.strip() or None  # an unknown hospital is reported by itself


def _doctor(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid(f"doctor: expected a doctor id, got {value!r}")
    return value.strip() or None if value else None


def _date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise invalid(f"date: expected YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise invalid(f"date: no such date {value!r}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("text: empty; say what the patients must know")
    if len(value.strip()) > MAX_TEXT:
        raise invalid(f"text: {len(value.strip())} characters, at most {MAX_TEXT}: it goes out as one SMS")
    return value.strip()


def _cancel(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"cancel: expected true or false, got {value!r}")
    return value


class BroadcastRequest(BaseModel):
    """What staff asked for: ``BroadcastRequest.model_validate(fields, context={"config": config})`` checks it."""

    model_config = ConfigDict(frozen=True)

    hospital: Annotated[str, PlainValidator(_hospital)]
    department: Annotated[str | None, PlainValidator(_department)] = None
    doctor: Annotated[str | None, PlainValidator(_doctor)] = None
    date: Annotated[str, PlainValidator(_date)]
    text: Annotated[str, PlainValidator(_text)]
    cancel: Annotated[bool, PlainValidator(_cancel)] = False

    def fingerprint(self, box: SecretBox) -> str:
        """Equal for equal requests: the same request again while the first is unfinished resumes it. Keyed: the
        text may name someone, and an unkeyed hash of a short text can be reversed by guessing."""
        raw = json.dumps([self.hospital, self.department, self.doctor, self.date, self.text, self.cancel])
        return box.lookup_hash(raw, kind="broadcast")[:32]
