"""Staff tokens scoped to hospitals (SPEC §7): a token of h1 gets 403 for anything about h2, and the audit trail
names the token that acted. Flask's test client over the real services and a real Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.services import build_services
from app.web import create_app
from bot.audit import read_audit
from bot.clock import ManualClock
from bot.config import build_config
from bot.patients import account_id
from bot.storage import keys
from tests.support import (
    CONFIG_RAW,
    NOW,
    SHANGHAI,
    STAFF_TOKEN,
    id_number,
    patient_name,
    phone_number,
    schedule_csv,
    slot_of,
)

TOMORROW = NOW.date() + timedelta(days=1)
SCOPED_TOKEN = "h1-only-token-0123456789"
EVERYWHERE = {"Authorization": f"Bearer {STAFF_TOKEN}"}
H1_ONLY = {"Authorization": f"Bearer {SCOPED_TOKEN}"}
HEADER = "hospital,department,doctor,level,date,start,end,capacity,fee\n"


class Env:
    """Two hospitals with a week of slots; the unscoped token ``desk`` and the token ``h1-desk`` scoped to h1."""

    def __init__(self, client: redis.Redis) -> None:
        raw = dict(CONFIG_RAW)
        raw["security"] = {
            **CONFIG_RAW["security"],
            "staff_tokens": [
                {"name": "desk", "token": STAFF_TOKEN},
                {"name": "h1-desk", "token": SCOPED_TOKEN, "hospitals": ["h1"]},
            ],
        }
        self.clock = ManualClock(NOW)
        self.services = build_services(build_config(raw), client, self.clock)
        self.app: Flask = create_app(self.services)
        self.http: FlaskClient = self.app.test_client()
        self.services.schedule.import_csv(schedule_csv(TOMORROW))
        self.patients = 0

    def book(self, hospital: str, day: date = TOMORROW) -> str:
        self.patients += 1
        n = self.patients
        acct = account_id(self.services.box, "wechat", f"openid-{n}")
        patient = self.services.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone_number(n))
        return self.services.booking.book(patient.pid, acct, "wechat", slot_of(hospital, "nk", day)).serial

    def status(self, serial: str) -> str:
        return self.services.store.require(serial).status.value

    def actors(self) -> list[str]:
        return [e.actor for e in read_audit(self.services.redis)]


@pytest.fixture
def env(redis_db: redis.Redis) -> Env:
    return Env(redis_db)


# --- one scenario per staff endpoint: call it about a hospital; after a refusal, check nothing changed ---------------


def _list(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.book(hospital)
    return env.http.get(f"/api/staff/appointments?hospital={hospital}", headers=headers)


def _checkin(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.serial = env.book(hospital)  # type: ignore[attr-defined]
    env.clock.set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))  # the visit day: check-in is open
    return env.http.post(f"/api/staff/appointments/{env.serial}/checkin", headers=headers)  # type: ignore[attr-defined]


def _waive(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.serial = env.book(hospital)  # type: ignore[attr-defined]
    env.clock.set(datetime(2026, 11, 24, 12, 30, tzinfo=SHANGHAI))
    assert env.services.standing.sweep_no_shows() == 1
    return env.http.post(f"/api/staff/appointments/{env.serial}/waive", headers=headers)  # type: ignore[attr-defined]


def _standing(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    serial = env.book(hospital)
    return env.http.get(f"/api/staff/patients/{serial}/standing", headers=headers)


def _schedule(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    own = f"h1,wk,dr-new,expert,{TOMORROW},18:00,19:00,5,30\n"
    csv = HEADER + own + f"{hospital},nk,dr-new,expert,{TOMORROW},18:00,19:00,5,30\n"
    return env.http.post("/api/staff/schedule", data=csv.encode(), headers=headers | {"Content-Type": "text/csv"})


def _broadcast(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.serial = env.book(hospital)  # type: ignore[attr-defined]
    body = {"hospital": hospital, "date": TOMORROW.isoformat(), "text": "停诊", "cancel": True}
    return env.http.post("/api/staff/broadcasts", json=body, headers=headers)


def _broadcast_status(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.book(hospital)
    wanted = env.services.broadcasts.validate(hospital, TOMORROW.isoformat(), "请注意")
    progress, _ = env.services.broadcasts.create(wanted, "staff:desk")
    return env.http.get(f"/api/staff/broadcasts/{progress.id}", headers=headers)


def _fhir(resource: str, query: str = "") -> Callable[[Env, str, dict[str, str]], TestResponse]:
    def call(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
        env.book(hospital)
        return env.http.get(f"/fhir/{resource}?{query}&hospital={hospital}", headers=headers)

    return call


def _lottery(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    env.book(hospital)
    return env.http.get(f"/api/staff/lottery?date={TOMORROW}&hospital={hospital}&department=nk", headers=headers)


def _waitlist(env: Env, hospital: str, headers: dict[str, str]) -> TestResponse:
    slot = slot_of(hospital, "nk", TOMORROW)
    env.services.redis.hset(keys.slot(slot), "capacity", 0)  # full: patients wait
    env.patients += 1
    acct = account_id(env.services.box, "wechat", f"openid-{env.patients}")
    n = env.patients
    patient = env.services.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone_number(n))
    env.services.waitlist.join(patient.pid, acct, "wechat", f"openid-{n}", slot)
    return env.http.get(f"/api/staff/waitlist?hospital={hospital}&date={TOMORROW}", headers=headers)


def _appointment_unchanged(status: str) -> Callable[[Env], None]:
    def check(env: Env) -> None:
        assert env.status(env.serial) == status  # type: ignore[attr-defined]

    return check


def _no_new_slot(env: Env) -> None:
    assert env.services.schedule.slot(f"h1|wk|dr-new|{TOMORROW}|18:00") is None
    assert env.services.schedule.slot(f"h2|nk|dr-new|{TOMORROW}|18:00") is None


def _nothing_broadcast(env: Env) -> None:
    assert env.status(env.serial) == "booked"  # type: ignore[attr-defined]
    assert env.services.redis.keys(keys.broadcast("*")) == []
    assert env.services.schedule.slot(slot_of("h2", "nk", TOMORROW)).status == "open"  # type: ignore[union-attr]


def _nothing(env: Env) -> None:
    pass


@dataclass(frozen=True)
class Scope:
    """A staff endpoint, a scenario about one hospital, its success status, and what a refusal must leave alone."""

    method: str
    rule: str
    call: Callable[[Env, str, dict[str, str]], TestResponse]
    ok: int
    unchanged: Callable[[Env], None] = _nothing


SCOPES = [
    Scope("GET", "/api/staff/appointments", _list, 200),
    Scope("POST", "/api/staff/appointments/<serial>/checkin", _checkin, 200, _appointment_unchanged("booked")),
    Scope("POST", "/api/staff/appointments/<serial>/waive", _waive, 200, _appointment_unchanged("no_show")),
    Scope("GET", "/api/staff/patients/<serial>/standing", _standing, 200),
    Scope("POST", "/api/staff/schedule", _schedule, 200, _no_new_slot),
    Scope("POST", "/api/staff/broadcasts", _broadcast, 202, _nothing_broadcast),
    Scope("GET", "/api/staff/broadcasts/<broadcast_id>", _broadcast_status, 200),
    Scope("GET", "/fhir/Schedule", _fhir("Schedule"), 200),
    Scope("GET", "/fhir/Slot", _fhir("Slot", f"start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=1)}"), 200),
    Scope("GET", "/fhir/Appointment", _fhir("Appointment", f"date={TOMORROW}"), 200),
    Scope("GET", "/api/staff/lottery", _lottery, 200),
    Scope("GET", "/api/staff/waitlist", _waitlist, 200),
]
IDS = [f"{s.method} {s.rule}" for s in SCOPES]
PUBLIC = {
    ("GET", "/api/staff/openapi.json"),  # the API's description (SPEC §7: no token needed)
    ("GET", "/api/staff/docs"),  # the page of it
    ("GET", "/api/staff/static/<path:filename>"),  # the page's files
    ("GET", "/fhir/metadata"),  # the FHIR CapabilityStatement: what the server can do
}
"""Rules under /api/staff/ and /fhir/ that take no token: nothing about any hospital."""


def refusal(response: TestResponse) -> str:
    """What a refusal says: the staff API's ``error``, or the FHIR OperationOutcome's diagnostics."""
    body: Any = response.json
    return str(body["error"] if "error" in body else body["issue"][0]["diagnostics"])


def test_every_staff_endpoint_is_in_the_scope_table(env: Env) -> None:
    """A new staff endpoint fails here until it is given a scope scenario (and so a guard)."""
    served = {
        (method, rule.rule)
        for rule in env.app.url_map.iter_rules()
        if rule.rule.startswith(("/api/staff/", "/fhir/"))
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert served - PUBLIC == {(s.method, s.rule) for s in SCOPES}


@pytest.mark.parametrize("scope", SCOPES, ids=IDS)
def test_a_scoped_token_gets_403_about_another_hospital(env: Env, scope: Scope) -> None:
    response = scope.call(env, "h2", H1_ONLY)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.is_json and "may not act for hospital h2" in refusal(response)
    scope.unchanged(env)
    assert "staff:h1-desk" not in env.actors()


@pytest.mark.parametrize("scope", SCOPES, ids=IDS)
def test_a_scoped_token_works_for_its_own_hospital(env: Env, scope: Scope) -> None:
    own = scope.call(env, "h1", H1_ONLY)
    assert own.status_code == scope.ok, own.get_data(as_text=True)


@pytest.mark.parametrize("scope", SCOPES, ids=IDS)
def test_an_unscoped_token_works_for_every_hospital(env: Env, scope: Scope) -> None:
    response = scope.call(env, "h2", EVERYWHERE)
    assert response.status_code == scope.ok, response.get_data(as_text=True)


def test_the_listing_without_a_filter_shows_only_the_tokens_hospitals(env: Env) -> None:
    mine, theirs = env.book("h1"), env.book("h2")

    def listed(headers: dict[str, str]) -> list[str]:
        answer: Any = env.http.get(f"/api/staff/appointments?date={TOMORROW}", headers=headers).json
        return sorted(a["serial"] for a in answer["appointments"])

    assert listed(H1_ONLY) == [mine]
    assert listed(EVERYWHERE) == sorted([mine, theirs])
    everything: Any = env.http.get("/api/staff/appointments", headers=H1_ONLY).json
    assert {a["hospital"] for a in everything["appointments"]} == {"h1"}


def test_a_schedule_with_rows_of_another_hospital_names_those_lines(env: Env) -> None:
    csv = (
        HEADER
        + f"h1,wk,dr-a,expert,{TOMORROW},18:00,19:00,5,30\n"
        + f"h2,nk,dr-a,expert,{TOMORROW},18:00,19:00,5,30\n"
        + f"h2,nk,dr-b,expert,{TOMORROW},19:00,20:00,5,30\n"
    )
    response = env.http.post("/api/staff/schedule", data=csv.encode(), headers=H1_ONLY)
    assert response.status_code == 403
    answer: Any = response.json
    assert [e["line"] for e in answer["errors"]] == [3, 4]
    assert "lines 3, 4" in answer["error"]
    assert env.services.schedule.slot(f"h1|wk|dr-a|{TOMORROW}|18:00") is None  # all or nothing


def test_a_malformed_body_is_still_400_for_a_scoped_token(env: Env) -> None:
    bad = env.http.post("/api/staff/broadcasts", json=["h2"], headers=H1_ONLY)
    assert bad.status_code == 400
    unknown = env.http.get("/api/staff/appointments?hospital=h9", headers=H1_ONLY)
    assert unknown.status_code == 400
    missing = env.http.post("/api/staff/appointments/99999999/checkin", headers=H1_ONLY)
    assert missing.status_code == 404


def test_the_audit_trail_names_the_token_that_acted(env: Env) -> None:
    checked = env.book("h1")
    absent = env.book("h1")
    later = TOMORROW + timedelta(days=2)
    cancelled = [env.book("h1", later) for _ in range(2)]
    env.book("h2", later)  # not selected: another hospital
    env.clock.set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    assert env.http.post(f"/api/staff/appointments/{checked}/checkin", headers=H1_ONLY).status_code == 200
    assert read_audit(env.services.redis, serial=checked)[-1].actor == "staff:h1-desk"

    env.clock.set(datetime(2026, 11, 24, 12, 30, tzinfo=SHANGHAI))
    env.services.standing.sweep_no_shows()
    assert env.http.post(f"/api/staff/appointments/{absent}/waive", headers=H1_ONLY).status_code == 200
    last = read_audit(env.services.redis, serial=absent)[-1]
    assert (last.action, last.actor) == ("waived", "staff:h1-desk")

    csv = HEADER + "h1,wk,dr-a,expert,2026-11-26,08:00,09:00,5,30\nh1,nk,dr-a,expert,2026-11-26,08:00,09:00,5,30\n"
    assert env.http.post("/api/staff/schedule", data=csv.encode(), headers=H1_ONLY).status_code == 200
    imported = read_audit(env.services.redis)[-1]
    assert (imported.action, imported.actor) == ("schedule_imported", "staff:h1-desk")
    assert imported.detail == "hospitals=h1 rows=2 created=2 updated=0"

    body = {"hospital": "h1", "date": later.isoformat(), "text": "停诊", "cancel": True}
    created = env.http.post("/api/staff/broadcasts", json=body, headers=H1_ONLY)
    assert created.status_code == 202
    broadcast_id = created.json["id"]  # type: ignore[index]
    entry = read_audit(env.services.redis)[-1]
    assert (entry.action, entry.actor) == ("broadcast_created", "staff:h1-desk")
    assert f"broadcast={broadcast_id}" in entry.detail and "hospital=h1" in entry.detail and "total=2" in entry.detail
    assert "停诊" not in entry.detail  # the free text stays out of the trail

    env.services.broadcasts.run(broadcast_id)  # what the worker's batch jobs do
    for serial in cancelled:
        last = read_audit(env.services.redis, serial=serial)[-1]
        assert (last.action, last.actor) == ("cancelled_by_hospital", "staff:h1-desk")


def test_the_waitlist_listing_shows_only_the_tokens_hospitals(env: Env) -> None:
    assert _waitlist(env, "h1", EVERYWHERE).status_code == 200
    _waitlist(env, "h2", EVERYWHERE)
    mine: Any = env.http.get("/api/staff/waitlist", headers=H1_ONLY).json
    assert [(e["hospital"], e["status"], e["position"]) for e in mine["entries"]] == [("h1", "waiting", 1)]
    entry = mine["entries"][0]
    assert set(entry) >= {"hospital", "department", "doctor", "date", "start", "position", "status"}
    assert entry["patient_name_masked"].endswith("*") and entry["start"] == "08:00"
    everything: Any = env.http.get("/api/staff/waitlist", headers=EVERYWHERE).json
    assert {e["hospital"] for e in everything["entries"]} == {"h1", "h2"}
    assert env.http.get("/api/staff/waitlist?date=tomorrow", headers=EVERYWHERE).status_code == 400
    assert env.http.get("/api/staff/waitlist?hospital=h9", headers=EVERYWHERE).status_code == 400
