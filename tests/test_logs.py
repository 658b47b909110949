"""Logs are one JSON line per event, and personal data that slips into one is masked."""

from __future__ import annotations

import json
import logging

from bot.app.logs import JsonFormatter, mask


def test_phone_and_id_numbers_are_masked() -> None:
    line = mask("booked by 13812345678 (+8613812345678) with ID 11010519491231002X and 110105194912310029")
    assert "13812345678" not in line and "11010519491231002X" not in line and "110105194912310029" not in line
    assert "138****5678" in line and "110105********002X" in line
    assert mask("serial 12345678, queue 3, at 2026-11-24") == "serial 12345678, queue 3, at 2026-11-24"


def test_one_json_object_per_line_with_extras() -> None:
    record = logging.makeLogRecord(
        {
            "name": "bot.x",
            "levelname": "WARNING",
            "msg": "send failed to %s",
            "args": ("13812345678",),
            "channel": "sms",
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "send failed to 138****5678" and entry["channel"] == "sms" and entry["level"] == "warning"
    assert "\n" not in JsonFormatter().format(record)
