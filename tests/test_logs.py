"""Logs are one JSON line per event, and personal data that slips into one is masked."""

from __future__ import annotations

import json
import logging
import sys
import unicodedata

import pytest

from app.logs import JsonFormatter, mask


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


@pytest.mark.parametrize(
    "secret",
    [
        "13812345678",
        "+8613812345678",
        "8613812345678",
        "+86 138-1234-5678",
        "138 1234 5678",
        "１３８１２３４５６７８",
        "110105194912311233",
        "11010519800101018x",
        "110105 19491231 1233",
    ],
)
def test_every_form_is_masked_in_the_message_the_extras_and_the_traceback(secret: str) -> None:
    try:
        raise ValueError(f"bad input {secret}")
    except ValueError:
        record = logging.makeLogRecord(
            {
                "name": "bot.x",
                "levelname": "ERROR",
                "msg": "typed %s",
                "args": (secret,),
                "user": secret,
                "numbers": [secret, {"nested": secret}],
                "exc_info": sys.exc_info(),
            }
        )
    line = JsonFormatter().format(record)
    digits = "".join(c for c in unicodedata.normalize("NFKC", secret) if c.isdigit())
    assert secret not in line and digits not in line and line.count("****") >= 4  # message, 2 extras, traceback


def test_a_number_extra_that_is_a_phone_is_masked_too() -> None:
    record = logging.makeLogRecord({"name": "bot.x", "msg": "m", "phone": 13812345678, "total": 3, "ok": True})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["phone"] == "138****5678" and entry["total"] == 3 and entry["ok"] is True
