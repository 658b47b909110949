"""The staff API's OpenAPI document (SPEC §7) is valid OpenAPI 3.1, describes every staff and FHIR URL rule of the app,
and matches what the endpoints answer: every documented response (operation + status) is produced here through
Flask's test client over the real services and Redis, and checked against the document by tests/openapi_check.py
(which checks the responses of every other test too)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Response
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapters.staff.docs import openapi_document
from app.services import build_services
from app.web import create_app
from bot.config import build_config
from tests import openapi_check
from tests.openapi_check import documented_path
from tests.support import CONFIG_RAW, SHANGHAI
from tests.test_staff_scope import EVERYWHERE, H1_ONLY, HEADER, TOMORROW, Env, _lottery, _waitlist

PREFIXES = ("/api/staff/", "/fhir/")
PUBLIC = {"staff_docs.static"}
"""URL rules under those prefixes that are not endpoints of the API (the docs page's files)."""
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def env(redis_db: redis.Redis) -> Env:
    return Env(redis_db)


def documented() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in openapi_document()["paths"].items() for m in item if m in METHODS}


def served(env: Env) -> set[tuple[str, str]]:
    return {
        (method, documented_path(rule.rule))
        for rule in env.app.url_map.iter_rules()
        if rule.rule.startswith(PREFIXES) and rule.endpoint not in PUBLIC
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any error


def test_a_broken_document_is_refused_by_the_validator() -> None:
    broken: dict[str, Any] = {**openapi_document(), "paths": {"/x": {"get": {"responses": {"200": {"$ref": 5}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_staff_and_fhir_url_rule_is_documented_and_nothing_else(env: Env) -> None:
    """A new endpoint (waitlist, lottery...) fails here until its block is added to adapters/staff/openapi.yaml."""
    assert served(env) - documented() == set(), "served but not in adapters/staff/openapi.yaml"
    assert documented() - served(env) == set(), "documented but not served"


def test_the_document_is_served_without_a_token(env: Env) -> None:
    response = env.http.get("/api/staff/openapi.json")
    assert response.status_code == 200 and response.is_json
    assert response.json == openapi_document()
    assert response.json["info"]["version"]  # type: ignore[index]


def test_the_page_loads_nothing_from_elsewhere(env: Env) -> None:
    page = env.http.get("/api/staff/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    for asset in ("static/docs.js", "static/swagger-ui/swagger-ui-bundle.js", "static/swagger-ui/swagger-ui.css"):
        assert asset in html
        served_asset = env.http.get(f"/api/staff/{asset}")
        assert served_asset.status_code == 200, asset
        served_asset.close()
    script = env.http.get("/api/staff/static/docs.js").get_data(as_text=True)
    assert "validatorUrl: null" in script and "http" not in script
    assert env.http.get("/api/staff/static/swagger-ui/LICENSE").status_code == 200


def test_a_response_unlike_the_document_is_caught(env: Env) -> None:
    """The check itself can fail: a listing whose row lacks fields, a status not in the enum, an undeclared field."""
    env.book("h1")
    with env.app.test_request_context("/api/staff/appointments", headers=EVERYWHERE):
        good = env.http.get("/api/staff/appointments", headers=EVERYWHERE).json
        row = dict(good["appointments"][0])  # type: ignore[index]
        assert openapi_check.mismatch(_json({"appointments": [row]})) is None
        for wrong in ({**row, "status": "lost"}, {**row, "phone": "13900000001"}, {"serial": row["serial"]}):
            assert openapi_check.mismatch(_json({"appointments": [wrong]})) is not None, wrong
        assert openapi_check.mismatch(_json({"appointments": []}, status=418)) is not None  # an undocumented status


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def test_every_documented_response_is_produced_and_matches(env: Env, redis_db: redis.Redis) -> None:
    """Each operation's every documented status, answered for real; each checked against the document."""
    openapi_check.SEEN.clear()
    http, token, scoped = env.http, EVERYWHERE, H1_ONLY
    serial, other = env.book("h1"), env.book("h2")
    http.get("/api/staff/openapi.json")
    http.get("/api/staff/docs")
    # listing: 200, 400, 401, 403
    http.get(f"/api/staff/appointments?date={TOMORROW}", headers=token)
    http.get("/api/staff/appointments?date=2026-13-01", headers=token)
    http.get("/api/staff/appointments")
    http.get("/api/staff/appointments?hospital=h2", headers=scoped)
    # waitlist and lottery (before the clock moves on): 200, 400, 401, 403
    for scenario, path in ((_lottery, "/api/staff/lottery"), (_waitlist, "/api/staff/waitlist")):  # waitlist fills
        scenario(env, "h1", token)
        scenario(env, "h2", scoped)
        http.get(f"{path}?date=2026-13-01&hospital=h1", headers=token)
        http.get(f"{path}?date={TOMORROW}&hospital=h1")
    # check-in, waive, standing: 200, 401, 403, 404, 409
    for action in ("checkin", "waive"):
        http.post(f"/api/staff/appointments/{serial}/{action}")
        http.post(f"/api/staff/appointments/{other}/{action}", headers=scoped)
        http.post(f"/api/staff/appointments/99999999/{action}", headers=token)
    http.post(f"/api/staff/appointments/{serial}/waive", headers=token)  # 409: nothing to waive
    env.clock.set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    http.post(f"/api/staff/appointments/{serial}/checkin", headers=token)
    http.post(f"/api/staff/appointments/{serial}/checkin", headers=token)  # 409: already attended
    absent = env.book("h1", TOMORROW + timedelta(days=1))
    env.clock.set(datetime(2026, 11, 25, 12, 30, tzinfo=SHANGHAI))
    env.services.standing.sweep_no_shows()
    http.post(f"/api/staff/appointments/{absent}/waive", headers=token)
    http.get(f"/api/staff/patients/{serial}/standing", headers=token)
    http.get(f"/api/staff/patients/{serial}/standing")
    http.get(f"/api/staff/patients/{other}/standing", headers=scoped)
    http.get("/api/staff/patients/99999999/standing", headers=token)
    # schedule: 200, 400 (both shapes), 401, 403, 413
    day = (TOMORROW + timedelta(days=3)).isoformat()
    http.post("/api/staff/schedule", data=HEADER + f"h1,nk,dr-z,expert,{day},18:00,19:00,5,30\n", headers=token)
    http.post("/api/staff/schedule", data=HEADER + f"h9,nk,dr-z,expert,{day},18:00,19:00,5,30\n", headers=token)
    http.post("/api/staff/schedule", data=b"\xff\xfe", headers=token)
    http.post("/api/staff/schedule", data=HEADER)
    http.post("/api/staff/schedule", data=HEADER + f"h2,nk,dr-z,expert,{day},18:00,19:00,5,30\n", headers=scoped)
    http.post("/api/staff/schedule", data=b"x" * (17 * 1024 * 1024), headers=token)
    # broadcasts: 202, 400, 401, 403; progress: 200, 401, 403, 404
    body = {"hospital": "h2", "date": day, "text": "停诊"}
    created = http.post("/api/staff/broadcasts", json=body, headers=token)
    http.post("/api/staff/broadcasts", json=[], headers=token)
    http.post("/api/staff/broadcasts", json=body)
    http.post("/api/staff/broadcasts", json=body, headers=scoped)
    broadcast = created.json["id"]  # type: ignore[index]
    http.get(f"/api/staff/broadcasts/{broadcast}", headers=token)
    http.get(f"/api/staff/broadcasts/{broadcast}")
    http.get(f"/api/staff/broadcasts/{broadcast}", headers=scoped)
    http.get("/api/staff/broadcasts/0123456789abcdef", headers=token)
    # FHIR: 200, 400, 401, 403
    http.get("/fhir/metadata")
    for path, good in (
        ("/fhir/Schedule", ""),
        ("/fhir/Slot", f"start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=1)}"),
        ("/fhir/Appointment", f"date={TOMORROW}"),
    ):
        http.get(f"{path}?{good}", headers=token)
        http.get(f"{path}?{good}&hospital=nowhere", headers=token)
        http.get(f"{path}?{good}")
        http.get(f"{path}?{good}&hospital=h2", headers=scoped)
    # every operation while Redis is down: 503
    raw = {**CONFIG_RAW, "security": {**CONFIG_RAW["security"]}}
    nowhere = redis.Redis(unix_socket_path="/nonexistent/redis.sock", retry=Retry(NoBackoff(), 0))  # no back-off sleeps
    down = build_services(build_config(raw), nowhere, env.clock)
    broken = create_app(down, expect_worker=False).test_client()
    for method, path in documented():
        if "503" in openapi_document()["paths"][path][method.lower()]["responses"]:
            concrete = path.replace("{serial}", serial).replace("{broadcast_id}", broadcast)
            query = {
                "/fhir/Slot": f"?start=ge{TOMORROW}&start=lt{day}",
                "/fhir/Appointment": f"?date={day}",
                "/api/staff/lottery": f"?date={day}&hospital=h1",
            }
            kwargs: dict[str, Any] = {"json": body} if path.endswith("broadcasts") else {}
            if path.endswith("schedule"):
                kwargs = {"data": HEADER + f"h1,nk,dr-z,expert,{day},18:00,19:00,5,30\n"}
            broken.open(concrete + query.get(path, ""), method=method, headers=token, **kwargs)

    wanted = {
        (method, path, int(status))
        for method, path in documented()
        for status in openapi_document()["paths"][path][method.lower()]["responses"]
    }
    seen = set(openapi_check.SEEN)
    assert wanted - seen == set(), "documented responses never produced"
    assert seen - wanted == set(), "responses the document does not list"
