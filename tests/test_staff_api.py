"""The staff API through Flask's test client, on the real services and a real Redis."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from adapters.staff.api import StaffDesk, staff_blueprint
from app.services import build_services
from app.web import create_app
from bot.clock import ManualClock
from bot.patients import account_id
from tests.support import (
    NOW,
    SHANGHAI,
    STAFF_TOKEN,
    id_number,
    make_config,
    patient_name,
    phone_number,
    schedule_csv,
    slot_of,
)

TOMORROW = NOW.date() + timedelta(days=1)
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


class Env:
    def __init__(self, client: redis.Redis) -> None:
        self.clock = ManualClock(NOW)
        self.services = build_services(make_config(), client, self.clock)
        self.http: FlaskClient = create_app(self.services).test_client()
        self.services.schedule.import_csv(schedule_csv(TOMORROW))

    def book(self, n: int, hospital: str = "h1", department: str = "nk") -> str:
        acct = account_id(self.services.box, "wechat", f"openid-{n}")
        patient = self.services.patients.add_patient(acct, "wechat", patient_name(n), id_number(n), phone_number(n))
        return self.services.booking.book(patient.pid, acct, "wechat", slot_of(hospital, department, TOMORROW)).serial


@pytest.fixture
def env(redis_db: redis.Redis) -> Env:
    return Env(redis_db)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0000000000"},
        {"Authorization": f"Basic {STAFF_TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/staff/appointments"),
        ("post", "/api/staff/appointments/12345678/checkin"),
        ("post", "/api/staff/appointments/12345678/waive"),
        ("post", "/api/staff/schedule"),
        ("get", "/api/staff/patients/12345678/standing"),
        ("post", "/api/staff/broadcasts"),
        ("get", "/api/staff/broadcasts/0123456789abcdef"),
    ],
)
def test_every_staff_endpoint_needs_a_valid_token(env: Env, headers: dict[str, str], method: str, path: str) -> None:
    response = getattr(env.http, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "missing or invalid staff token"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_listing_has_the_spec_fields(env: Env) -> None:
    serial = env.book(1)
    env.book(2, "h2", "nk")
    response = env.http.get(f"/api/staff/appointments?date={TOMORROW}&hospital=h1", headers=AUTH)
    assert response.status_code == 200
    [row] = response.json["appointments"]  # type: ignore[index]
    assert row == {
        "serial": serial,
        "hospital": "h1",
        "hospital_name": "第一医院",
        "department": "nk",
        "department_name": "内科",
        "doctor": "dr-nk",
        "doctor_name": "dr-nk",
        "level": "general",
        "date": TOMORROW.isoformat(),
        "start": "08:00",
        "end": "12:00",
        "queue_no": 1,
        "status": "booked",
        "channel": "wechat",
        "patient_name_masked": "张*",
        "fee": 5.0,
        "refund": None,
    }
    everything = env.http.get("/api/staff/appointments", headers=AUTH).json
    assert len(everything["appointments"]) == 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("query", "message"),
    [("date=2026-13-01", "date: expected YYYY-MM-DD"), ("hospital=nope", "hospital: unknown hospital")],
)
def test_bad_filters_are_400_with_the_reason(env: Env, query: str, message: str) -> None:
    response = env.http.get(f"/api/staff/appointments?{query}", headers=AUTH)
    assert response.status_code == 400 and response.json["error"].startswith(message)  # type: ignore[index]


def test_checkin_waive_and_standing(env: Env) -> None:
    serial = env.book(1)
    assert env.http.post("/api/staff/appointments/99999999/checkin", headers=AUTH).status_code == 404
    assert env.http.post("/api/staff/appointments/not-a-serial/checkin", headers=AUTH).status_code == 404

    env.clock.set(datetime(2026, 11, 24, 12, 30, tzinfo=SHANGHAI))
    env.services.standing.sweep_no_shows()
    late = env.http.post(f"/api/staff/appointments/{serial}/checkin", headers=AUTH)
    assert late.status_code == 409 and "already no_show" in late.json["error"]  # type: ignore[index]
    standing = env.http.get(f"/api/staff/patients/{serial}/standing", headers=AUTH)
    assert standing.json == {"no_shows_this_year": 1, "suspended_until": None}

    waived = env.http.post(f"/api/staff/appointments/{serial}/waive", headers=AUTH)
    assert waived.status_code == 200 and waived.json["status"] == "no_show_waived"  # type: ignore[index]
    assert env.http.get(f"/api/staff/patients/{serial}/standing", headers=AUTH).json == {
        "no_shows_this_year": 0,
        "suspended_until": None,
    }
    assert env.http.post(f"/api/staff/appointments/{serial}/waive", headers=AUTH).status_code == 409


def test_checkin_on_the_day(env: Env) -> None:
    serial = env.book(1)
    env.clock.set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    response = env.http.post(f"/api/staff/appointments/{serial}/checkin", headers=AUTH)
    assert response.status_code == 200 and response.json["status"] == "attended"  # type: ignore[index]


def test_schedule_import_all_or_nothing(env: Env) -> None:
    good = (
        "hospital,department,doctor,level,date,start,end,capacity,fee\nh1,wk,dr-a,expert,2026-11-26,08:00,09:00,5,30\n"
    )
    response = env.http.post("/api/staff/schedule", data=good.encode(), headers=AUTH | {"Content-Type": "text/csv"})
    assert response.status_code == 200 and response.json == {"slots": 1}
    bad = good + "h9,wk,dr-a,expert,2026-11-26,08:00,09:00,5,30\nh1,wk,dr-b,general,2026-11-26,10:00,09:00,5,30\n"
    response = env.http.post("/api/staff/schedule", data=bad.encode(), headers=AUTH)
    assert response.status_code == 400
    assert [e["line"] for e in response.json["errors"]] == [3, 4]  # type: ignore[index]
    assert env.http.post("/api/staff/schedule", data=b"\xff\xfe", headers=AUTH).status_code == 400


def test_healthz(env: Env, redis_db: redis.Redis) -> None:
    assert env.http.get("/healthz").json["redis"] == "ok"  # the worker side: tests/test_web_health.py
    broken = build_services(make_config(), redis.Redis(unix_socket_path="/nonexistent/redis.sock"), env.clock)
    assert create_app(broken).test_client().get("/healthz").status_code == 503


JSON = {"Content-Type": "application/json"}
GOOD_BROADCAST = '"hospital":"h1","date":"2026-11-24","text":"停诊"'


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"[]", JSON, "expected a JSON object body"),
        (b'"h1"', JSON, "expected a JSON object body"),
        (b"null", JSON, "expected a JSON object body"),
        (b"{", JSON, "expected a JSON object body"),
        (b"\xff\xfe{}", JSON, "expected a JSON object body"),
        (b"", JSON, "expected a JSON object body"),
        (f"{{{GOOD_BROADCAST}}}".encode(), {}, "expected a JSON object body"),  # not sent as JSON
        (b'{"hospital":["h1"],"date":"2026-11-24","text":"x"}', JSON, "hospital: unknown hospital"),
        (f'{{{GOOD_BROADCAST},"department":["nk"]}}'.encode(), JSON, "department: h1 has no department"),
        (f'{{{GOOD_BROADCAST},"doctor":5}}'.encode(), JSON, "doctor: expected a doctor id"),
        (f'{{{GOOD_BROADCAST},"cancel":"yes"}}'.encode(), JSON, "cancel: expected true or false"),
        (f'{{{GOOD_BROADCAST},"cancel":NaN}}'.encode(), JSON, "cancel: expected true or false"),
        (b'{"hospital":"h1","date":20261124,"text":"x"}', JSON, "date: expected YYYY-MM-DD"),
        (b'{"hospital":"h1","date":"2026-11-24","text":{"zh":"x"}}', JSON, "text: empty"),
        # a lone surrogate is valid JSON but no text: it cannot be stored or sent (was a 500)
        (b'{"hospital":"h1","date":"2026-11-24","text":"x\\ud800"}', JSON, "expected Unicode text"),
        (f'{{{GOOD_BROADCAST},"doctor":"\\udfff"}}'.encode(), JSON, "expected Unicode text"),
    ],
)
def test_a_bad_broadcast_body_is_400_with_the_reason(
    env: Env, body: bytes, headers: dict[str, str], message: str
) -> None:
    response = env.http.post("/api/staff/broadcasts", data=body, headers=AUTH | headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"].startswith(message)  # type: ignore[index]


@pytest.mark.parametrize("day", ["2026-W48-2", "20261124", "２０２６-11-24", "2026-11-24T00:00"])
def test_the_listing_takes_only_a_plain_date(env: Env, day: str) -> None:
    response = env.http.get("/api/staff/appointments", query_string={"date": day}, headers=AUTH)
    assert response.status_code == 400 and response.json["error"].startswith("date: expected YYYY-MM-DD")  # type: ignore[index]


def test_the_staff_api_runs_on_its_desk_alone(env: Env) -> None:
    """Handed its few services explicitly, not looked up in the app: a bare Flask app with the blueprint works."""
    svc = env.services
    app = Flask("desk-only")
    app.register_blueprint(
        staff_blueprint(
            StaffDesk(svc.config, svc.store, svc.standing, svc.schedule, svc.broadcasts, svc.lottery, svc.waitlist)
        )
    )
    serial = env.book(1)
    assert "guahao" not in app.extensions
    listed = app.test_client().get("/api/staff/appointments", headers=AUTH)
    assert listed.status_code == 200 and [a["serial"] for a in listed.json["appointments"]] == [serial]  # type: ignore[index]
    assert app.test_client().get("/api/staff/appointments").status_code == 401
