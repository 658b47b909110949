"""The simulator API without a server process (SPEC §7): the staff token it may show, and the clock's limits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from adapters.console.simulator import warn_if_exposed
from app.demo import demo_config_layer
from app.web import create_app
from bot.clock import RedisClock
from bot.config import Config, build_config, load_config
from tests.support import CONFIG_RAW, STAFF_TOKEN, make_services


def client_for(redis_db: redis.Redis, config: Config) -> FlaskClient:
    return create_app(make_services(redis_db, config, RedisClock(redis_db))).test_client()


def with_simulator(raw: dict[str, Any]) -> Config:
    return build_config({**raw, "server": {"simulator": True}})


@pytest.fixture
def http(redis_db: redis.Redis) -> FlaskClient:
    return client_for(redis_db, with_simulator(CONFIG_RAW))


def test_info_never_shows_a_configured_staff_token(http: FlaskClient) -> None:
    info = http.get("/simulator/info").get_json()
    assert info["staff_token"] == "" and len(info["hospitals"]) == 2
    assert STAFF_TOKEN not in http.get("/simulator/info").get_data(as_text=True)


def test_info_shows_the_token_the_demo_made(redis_db: redis.Redis) -> None:
    config = load_config(None, env={}, demo=demo_config_layer())
    info = client_for(redis_db, config).get("/simulator/info").get_json()
    assert info["staff_token"] == config.security.staff_tokens[0].token
    assert info["staff_token"].startswith("demo-") and len(info["staff_token"]) > 30


def test_info_hides_a_file_token_even_under_demo(redis_db: redis.Redis, tmp_path: Any) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(f'[security]\nstaff_tokens = ["{STAFF_TOKEN}"]\n')
    config = load_config(path, env={}, demo=demo_config_layer())
    http = client_for(redis_db, config)
    assert http.get("/simulator/info").get_json()["staff_token"] == ""
    headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    assert http.get("/api/staff/appointments", headers=headers).status_code == 200, "the configured token works"


def test_clock_can_be_read_and_zero_only_reads(http: FlaskClient, redis_db: redis.Redis) -> None:
    now = datetime.fromisoformat(http.get("/simulator/clock").get_json()["now"])
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    read = http.post("/simulator/clock", json={"advance_minutes": 0})
    assert read.status_code == 200 and abs(datetime.fromisoformat(read.get_json()["now"]) - now) < timedelta(seconds=5)
    assert redis_db.get("gh:clock:offset") is None, "reading moves nothing"
    moved = http.post("/simulator/clock", json={"advance_minutes": 90}).get_json()["now"]
    assert timedelta(minutes=89) < datetime.fromisoformat(moved) - now < timedelta(minutes=91)


@pytest.mark.parametrize(
    "body",
    [
        {"advance_minutes": 0.0001},
        {"advance_minutes": 1.5},
        {"advance_minutes": True},
        {"advance_minutes": "60"},
        {"advance_minutes": -5},
        {"advance_minutes": None},
        {"set": "tomorrow"},
        {"set": "2027-01-01T08:00:00"},
        {"set": 20270101},
        {},
    ],
)
def test_clock_refuses_what_is_not_a_whole_step_or_a_moment_with_offset(http: FlaskClient, body: Any) -> None:
    answer = http.post("/simulator/clock", json=body)
    assert answer.status_code == 400 and answer.get_json()["error"]


@pytest.mark.parametrize("years", [11, -11, 7975])
def test_clock_stays_within_ten_years_of_the_real_date(http: FlaskClient, redis_db: redis.Redis, years: int) -> None:
    moment = (datetime.now(UTC) + timedelta(days=365 * years)).replace(microsecond=0)
    answer = http.post("/simulator/clock", json={"set": moment.isoformat()})
    assert answer.status_code == 400 and "within ten years of the real date" in answer.get_json()["error"]
    far = http.post("/simulator/clock", json={"set": "9999-12-31T23:59:59+08:00"})
    assert far.status_code == 400
    assert redis_db.get("gh:clock:offset") is None, "nothing moved"


def test_many_steps_cannot_walk_the_clock_past_ten_years(http: FlaskClient) -> None:
    nine_years = (datetime.now(UTC) + timedelta(days=3400)).isoformat()
    assert http.post("/simulator/clock", json={"set": nine_years}).status_code == 200
    a_year = 366 * 24 * 60
    refused = http.post("/simulator/clock", json={"advance_minutes": a_year})
    assert refused.status_code == 400 and "within ten years" in refused.get_json()["error"]
    assert http.post("/simulator/clock", json={"advance_minutes": 60}).status_code == 200


def test_set_within_range_moves_every_process_clock(http: FlaskClient, redis_db: redis.Redis) -> None:
    target = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    answer = http.post("/simulator/clock", json={"set": target.isoformat()})
    assert answer.status_code == 200
    assert abs(datetime.fromisoformat(answer.get_json()["now"]) - target) < timedelta(seconds=5)
    assert abs(RedisClock(redis_db).now() - target) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("localhost", False), ("::1", False), ("0.0.0.0", True), ("192.168.1.5", True)],
)
def test_a_simulator_beyond_loopback_is_a_warning(host: str, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.console.simulator"):
        assert warn_if_exposed(with_simulator(CONFIG_RAW), host) is warned
        assert warn_if_exposed(build_config(CONFIG_RAW), host) is False, "no simulator, nothing to warn about"
    assert bool(caplog.records) is warned
