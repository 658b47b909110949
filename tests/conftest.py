"""Shared fixtures: a real ``redis-server`` for the session, a clean database for each test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from bot.clock import ManualClock
from bot.storage.runtime import EmbeddedRedis
from tests.support import NOW, Services, make_services, schedule_csv

pytest_plugins = ["tests.openapi_check"]  # every staff/FHIR response of every test checked against the OpenAPI document


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One real redis-server for the whole run, started the way guahao starts its embedded one (no persistence)."""
    server = EmbeddedRedis.start(None, appendonly=False)
    yield server
    server.stop()


@pytest.fixture
def redis_db(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client of the session server with an empty database."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A server of its own with append-only persistence under ``tmp_path``, for durability tests."""
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    yield server
    server.stop()


@pytest.fixture
def clock() -> ManualClock:
    """A manual deployment clock at ``tests.support.NOW`` (the one ``svc`` runs on), moved by hand."""
    return ManualClock(NOW)


@pytest.fixture
def svc(redis_db: redis.Redis, clock: ManualClock) -> Services:
    """The services as the app wires them, on ``clock``, with a week of slots from tomorrow (tests.support); the one
    shared copy (a module overrides it only for other data: a bigger slot, another config)."""
    services = make_services(redis_db, clock=clock)
    services.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    return services
