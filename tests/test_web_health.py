"""The web app's honesty (SPEC §7): ``/healthz`` over Redis and RQ's own worker heartbeats; while Redis is down
every endpoint answers 503 JSON or the user's busy text, never an HTML 500; a few inputs that used to be 500s."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.utils import utcformat
from twilio.request_validator import RequestValidator

from app.health import HEARTBEAT_FRESH_S
from app.web import create_app
from bot.clock import RedisClock
from bot.config import build_config
from bot.reminders import job_queue
from bot.storage.runtime import EmbeddedRedis
from tests.support import CONFIG_RAW, STAFF_TOKEN, make_services

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def simulator_config_raw() -> dict[str, object]:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["server"] = {"simulator": True}
    return raw


def rq_worker(client: redis.Redis) -> SimpleWorker:
    """A worker registered the way ``guahao worker`` registers (RQ's own birth and heartbeat), not started."""
    worker = SimpleWorker([job_queue(client)], connection=client)
    worker.register_birth()
    return worker


@pytest.fixture
def http(redis_db: redis.Redis) -> FlaskClient:
    return create_app(make_services(redis_db)).test_client()


# --- /healthz ----------------------------------------------------------------------------------------------
def test_healthz_is_503_without_a_worker_and_200_with_one(http: FlaskClient, redis_db: redis.Redis) -> None:
    answer = http.get("/healthz")
    assert answer.status_code == 503
    assert answer.json == {"status": "unavailable", "redis": "ok", "worker": "down"}
    worker = rq_worker(redis_db)
    answer = http.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok", "redis": "ok", "worker": "ok"}
    worker.register_death()
    assert http.get("/healthz").status_code == 503, "a worker that stopped is no worker"


def test_a_heartbeat_older_than_a_minute_is_a_dead_worker(http: FlaskClient, redis_db: redis.Redis) -> None:
    worker = rq_worker(redis_db)
    # RQ's heartbeat is the real wall clock; a worker SIGKILLed a minute ago left exactly this behind
    stale = datetime.now(UTC) - timedelta(seconds=HEARTBEAT_FRESH_S + 1)
    redis_db.hset(worker.key, "last_heartbeat", utcformat(stale))
    assert http.get("/healthz").json == {"status": "unavailable", "redis": "ok", "worker": "down"}
    worker.heartbeat()
    assert http.get("/healthz").status_code == 200


def test_healthz_without_a_worker_expected(redis_db: redis.Redis) -> None:
    http = create_app(make_services(redis_db), expect_worker=False).test_client()
    assert http.get("/healthz").json == {"status": "ok", "redis": "ok", "worker": "not_expected"}


# --- Redis down --------------------------------------------------------------------------------------------
@pytest.fixture
def outage(tmp_path: Path) -> Iterator[FlaskClient]:
    """The app on a Redis of its own that then dies (SIGKILL), as an outage looks to the web process."""
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    client = server.client()
    app = create_app(make_services(client, build_config(simulator_config_raw()), RedisClock(client)))
    http = app.test_client()
    assert http.get("/simulator/info").status_code == 200  # the pool holds a live connection before the kill
    server.kill()
    yield http
    client.close()


def test_healthz_is_503_json_while_redis_is_down(outage: FlaskClient) -> None:
    answer = outage.get("/healthz")
    assert answer.status_code == 503
    assert answer.json == {"status": "unavailable", "redis": "down", "worker": "unknown"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/staff/appointments", None),
        ("post", "/api/staff/appointments/12345678/checkin", None),
        ("post", "/api/staff/broadcasts", {"hospital": "h1", "date": "2026-11-24", "text": "停诊", "cancel": False}),
        ("get", "/api/staff/patients/12345678/standing", None),
        ("post", "/simulator/send", {"channel": "wechat", "user": "o-1", "text": "1"}),
        ("get", "/simulator/outbox?to=o-1", None),
        ("post", "/simulator/clock", {"advance_minutes": 5}),
    ],
)
def test_apis_answer_503_json_while_redis_is_down(
    outage: FlaskClient, method: str, path: str, body: object | None
) -> None:
    answer = getattr(outage, method)(path, json=body, headers=AUTH)
    assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
    assert answer.is_json and "error" in answer.json


def test_twilio_webhook_answers_the_busy_text_while_redis_is_down(tmp_path: Path) -> None:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["sms"] = {"provider": "console", "auth_token": "twilio-auth-token-0123456789abcdef"}
    raw["server"] = {"public_url": "https://guahao.example.org"}
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    http = create_app(make_services(server.client(), build_config(raw))).test_client()
    server.kill()
    params = {"MessageSid": "SM" + "1" * 32, "From": "+8613900000001", "To": "+15005550006", "Body": "HELP"}
    signature = RequestValidator(raw["sms"]["auth_token"]).compute_signature(
        "https://guahao.example.org/sms/twilio", params
    )
    answer = http.post("/sms/twilio", data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.mimetype == "text/xml"
    assert "系统繁忙,请稍后再试" in answer.get_data(as_text=True)


# --- SPEC §7: the SMS webhook follows the auth token -------------------------------------------------------
def test_sms_webhook_is_on_with_an_auth_token_whatever_the_outbound_provider(redis_db: redis.Redis) -> None:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["sms"] = {"provider": "console", "auth_token": "twilio-auth-token-0123456789abcdef"}
    http = create_app(make_services(redis_db, build_config(raw))).test_client()
    assert http.post("/sms/twilio", data={"From": "+8613900000001", "Body": "HELP"}).status_code == 403, "checked"
    raw["sms"] = {"provider": "console", "auth_token": ""}
    http = create_app(make_services(redis_db, build_config(raw))).test_client()
    assert http.post("/sms/twilio", data={"From": "+8613900000001", "Body": "HELP"}).status_code == 404


# --- smaller items -----------------------------------------------------------------------------------------
def test_metrics_content_type_names_its_charset_once(http: FlaskClient) -> None:
    answer = http.get("/metrics")
    assert answer.status_code == 200
    parts = [p.strip() for p in answer.headers["Content-Type"].split(";")]
    assert parts == ["text/plain", "version=0.0.4", "charset=utf-8"]


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/api/staff/broadcasts", "/simulator/send", "/simulator/clock"])
def test_deeply_nested_json_is_400(redis_db: redis.Redis, path: str) -> None:
    http = create_app(make_services(redis_db, build_config(simulator_config_raw()))).test_client()
    answer = http.post(path, data=DEEP, headers=AUTH | {"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.is_json, answer.get_data(as_text=True)[:300]
    answer = http.post(path, data=json.dumps({"a": 1})[:-1], headers=AUTH | {"Content-Type": "application/json"})
    assert answer.status_code == 400, "plain malformed JSON too"
