"""Test helpers shared by the service, concurrency and API tests: a config, an ID generator, wired services."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis

import rules
from app.services import build_services
from bot.clock import Clock, ManualClock
from bot.config import Config, build_config
from bot.patients import PatientView, account_id
from bot.services import Services as AppServices

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRET = "test-secret-key-of-at-least-32-characters!"
STAFF_TOKEN = "staff-token-0123456789"

CONFIG_RAW: dict[str, Any] = {
    "security": {"secret_key": SECRET, "staff_tokens": [{"name": "desk", "token": STAFF_TOKEN}]},
    "hospitals": [
        {
            "id": "h1",
            "name": "第一医院",
            "address": "北京市西城区1号",
            "departments": [
                {"id": "nk", "name": "内科"},
                {"id": "wk", "name": "外科"},
                {"id": "ek", "name": "儿科"},
            ],
        },
        {
            "id": "h2",
            "name": "第二医院",
            "policy": {"cancel_deadline": "14:00"},
            "departments": [{"id": "nk", "name": "内科"}],
        },
    ],
}

# Monday 23 November 2026, 08:00 in Beijing: tomorrow .. +7 are bookable.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)


def make_config(**policy: Any) -> Config:
    """The test configuration, with optional platform policy overrides."""
    raw = dict(CONFIG_RAW)
    if policy:
        raw["policy"] = policy
    return build_config(raw)


def id_number(n: int, birth: str = "19800101") -> str:
    """A valid, distinct resident ID number for patient ``n``."""
    first17 = f"110105{birth}{n % 1000:03d}"
    if n >= 1000:
        first17 = f"{110105 + n // 1000:06d}{birth}{n % 1000:03d}"
    return first17 + rules.id_check_digit(first17)


_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def patient_name(n: int) -> str:
    """A distinct Chinese name for patient ``n`` (张 + the digits of n in base 20 as given-name characters)."""
    given = ""
    while True:
        n, digit = divmod(n, len(_GIVEN))
        given = _GIVEN[digit] + given
        if n == 0:
            return "张" + given


def phone_number(n: int) -> str:
    """A distinct mainland mobile number for patient ``n``."""
    return f"139{n:08d}"


def schedule_csv(start: date, days: int = 8, capacity: int = 20, hospitals: tuple[str, ...] = ("h1", "h2")) -> str:
    """Morning and afternoon slots for every department of the test hospitals, ``days`` days from ``start``."""
    departments = {"h1": ("nk", "wk", "ek"), "h2": ("nk",)}
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee"]
    for offset in range(days):
        day = (start + timedelta(days=offset)).isoformat()
        for hospital in hospitals:
            for department in departments[hospital]:
                rows.append(f"{hospital},{department},dr-{department},general,{day},08:00,12:00,{capacity},5")
                rows.append(f"{hospital},{department},dr-{department}-x,expert,{day},14:00,17:00,{capacity},50")
    return "\n".join(rows) + "\n"


def slot_of(hospital: str, department: str, day: date, afternoon: bool = False) -> str:
    """The id of a slot of ``schedule_csv``."""
    doctor = f"dr-{department}-x" if afternoon else f"dr-{department}"
    return f"{hospital}|{department}|{doctor}|{day.isoformat()}|{'14:00' if afternoon else '08:00'}"


class Services(AppServices):
    """The services as the app wires them (``build_services``), with a helper to add test patients."""

    def patient(self, n: int, channel: str = "wechat", user: str | None = None) -> tuple[str, PatientView]:
        """Add patient ``n`` to an account of its own (or ``user``'s); returns (acct, patient)."""
        acct = account_id(self.box, channel, user or f"openid-{n}")
        view = self.patients.add_patient(acct, channel, patient_name(n), id_number(n), phone_number(n))
        return acct, view


def make_services(client: redis.Redis, config: Config | None = None, clock: Clock | None = None) -> Services:
    """Wire the services for a test, exactly as the app does, on a manual clock."""
    built = build_services(config or make_config(), client, clock or ManualClock(NOW))
    return Services(**{f.name: getattr(built, f.name) for f in fields(built)})


def clock(svc: Services) -> ManualClock:
    """The manual clock of test services (to move time)."""
    assert isinstance(svc.clock, ManualClock)
    return svc.clock
