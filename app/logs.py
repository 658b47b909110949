"""Structured logs: one JSON object per line, personal data masked on the way out.

Code never logs personal data on purpose; this is the net under that rule: anything that looks like a phone number
or a resident ID number (in any form: ``+86``, full-width digits, separators) in a message, an extra field or a
traceback is masked before it is written, by the same ``rules.mask_personal`` that masks echoed user text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import rules

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask(text: str) -> str:
    """``text`` with ID and phone numbers masked (``110105********123X``, ``138****5678``)."""
    return rules.mask_personal(text)


def _masked(value: Any) -> Any:
    """An extra field's value with personal data masked, whatever its type (a phone may come as an int)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        shown = str(value)
        return value if mask(shown) == shown else mask(shown)
    if isinstance(value, dict):
        return {mask(str(k)): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    return mask(value if isinstance(value, str) else str(value))


class JsonFormatter(logging.Formatter):
    """``{"at": ..., "level": ..., "logger": ..., "event": ..., <extra fields>}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": mask(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = _masked(value)
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    """Send every log line of the process to stderr as masked JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("werkzeug", "waitress.queue", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
