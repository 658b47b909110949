"""The embedded Redis: starts, persists append-only, survives a SIGKILL, fails clearly, is shared per data dir."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from bot.config import RedisConfig
from bot.errors import RedisUnavailableError
from bot.storage.runtime import EmbeddedRedis, find_redis_server, open_redis


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


def modes(data_dir: Path) -> dict[str, int]:
    """The permission bits of the data directory and everything in it (relative names; "." = the directory)."""
    found = {".": data_dir.stat().st_mode & 0o777}
    found |= {str(p.relative_to(data_dir)): p.stat().st_mode & 0o777 for p in data_dir.rglob("*")}
    return found


def test_the_data_dir_and_append_only_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runtime = open_redis(RedisConfig(data_dir=str(data_dir)))
    try:
        for i in range(200):
            runtime.redis.set(f"k{i}", "x" * 100)
        runtime.redis.bgrewriteaof()  # files Redis writes later (a rewrite) are private too
        deadline = time.monotonic() + 10
        while runtime.redis.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
            time.sleep(0.05)
        runtime.redis.set("after-rewrite", "y")
        found = modes(data_dir)
    finally:
        runtime.close()
    assert found["."] == 0o700
    aof = {name: mode for name, mode in found.items() if "appendonly" in name or name.endswith(".aof")}
    assert aof and any(name.endswith(".aof") for name in aof), found
    assert all(mode & 0o077 == 0 for mode in aof.values()), aof


def test_a_looser_data_dir_is_tightened_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = open_redis(RedisConfig(data_dir=str(data_dir)))
    first.redis.set("booking", "kept")
    first.close()
    os.chmod(data_dir, 0o755)
    (data_dir / "secret.key").write_text("k" * 40)
    for path in [*data_dir.rglob("*.aof"), *data_dir.rglob("*.manifest"), data_dir / "secret.key"]:
        os.chmod(path, 0o644)
    again = open_redis(RedisConfig(data_dir=str(data_dir)))
    try:
        assert again.redis.get("booking") == b"kept"
        found = modes(data_dir)
    finally:
        again.close()
    assert found["."] == 0o700 and found["secret.key"] == 0o600
    assert all(mode & 0o077 == 0 for name, mode in found.items() if "appendonly" in name or name.endswith(".aof"))


def test_a_killed_server_restarts_on_the_same_socket_with_its_data(durable_redis: EmbeddedRedis) -> None:
    client = durable_redis.client()
    client.set("booking", "acknowledged")
    os.kill(durable_redis.process.pid, signal.SIGKILL)  # a crash, not our own stop
    durable_redis.process.wait()
    with pytest.raises(redis.ConnectionError):
        client.get("booking")
    durable_redis.restart()
    assert client.get("booking") == b"acknowledged", "the same client reconnects to the same socket"
    client.close()
