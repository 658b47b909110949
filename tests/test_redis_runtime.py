"""The embedded Redis: starts, persists append-only, survives a SIGKILL, fails clearly, is shared per data dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from bot.config import RedisConfig
from bot.errors import RedisUnavailableError
from bot.redis_runtime import EmbeddedRedis, find_redis_server, open_redis


def test_session_server_is_real(redis_db: redis.Redis) -> None:
    info = redis_db.info("server")
    assert info["redis_version"]
    assert redis_db.set("k", "v") and redis_db.get("k") == b"v"


def test_each_test_starts_with_an_empty_database(redis_db: redis.Redis) -> None:
    assert redis_db.dbsize() == 0
    redis_db.set("left-behind", 1)


def test_and_the_next_one_too(redis_db: redis.Redis) -> None:
    assert redis_db.dbsize() == 0


def test_find_redis_server_is_executable() -> None:
    binary = find_redis_server()
    assert os.access(binary, os.X_OK)


def test_embedded_runtime_persists_across_restart(tmp_path: Path) -> None:
    config = RedisConfig(data_dir=str(tmp_path / "data"))
    runtime = open_redis(config)
    assert runtime.embedded is not None
    runtime.redis.set("booking", "kept")
    runtime.close()
    assert runtime.embedded.process.poll() is not None, "the server stops with the runtime"
    assert any((tmp_path / "data").rglob("*.aof")), "append-only file written under data_dir"

    again = open_redis(config)
    try:
        assert again.redis.get("booking") == b"kept"
    finally:
        again.close()


def test_acknowledged_writes_survive_sigkill(durable_redis: EmbeddedRedis, tmp_path: Path) -> None:
    client = durable_redis.client()
    for i in range(500):
        client.hset(f"appointment:{i}", mapping={"status": "booked"})
    client.close()
    durable_redis.kill()

    restarted = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    try:
        client = restarted.client()
        assert sum(1 for _ in client.scan_iter("appointment:*")) == 500
        client.close()
    finally:
        restarted.stop()


def test_second_process_on_same_data_dir_joins_the_running_server(tmp_path: Path) -> None:
    config = RedisConfig(data_dir=str(tmp_path / "data"))
    owner = open_redis(config)
    try:
        guest = open_redis(config)
        assert guest.embedded is None, "no second server on the same files"
        owner.redis.set("shared", "yes")
        assert guest.redis.get("shared") == b"yes"
        guest.close()
    finally:
        owner.close()


def test_unwritable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RedisUnavailableError, match=r"^redis.data_dir: cannot write to .*a-file/data"):
        open_redis(RedisConfig(data_dir=str(blocker / "data")))


def test_server_that_does_not_come_up_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RedisUnavailableError, match="did not start within"):
        EmbeddedRedis.start(tmp_path / "data", appendfsync="sometimes")


def test_configured_url_is_used_as_is(redis_server: EmbeddedRedis) -> None:
    runtime = open_redis(RedisConfig(url=redis_server.url))
    try:
        assert runtime.embedded is None
        assert runtime.redis.ping()
    finally:
        runtime.close()
