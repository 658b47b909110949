"""A Redis high-availability deployment for tests: a primary, replicas and three Sentinels, real ``redis-server``
processes (the same binary the project runs: :func:`bot.storage.runtime.find_redis_server`; ``--sentinel`` turns it
into a Sentinel), on loopback TCP ports, with short failover timings.

Use as a context manager: ``with SentinelCluster.start(tmp_path) as cluster: ...``; every process it started is
stopped (by its PID) on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
import redis

from bot.storage.runtime import connect_sentinel, find_redis_server
from tests.test_serve import free_port

SERVICE = "guahao"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
READY_TIMEOUT_S = 20.0


@dataclass
class Node:
    """One ``redis-server`` process (a data node or a Sentinel) on ``port``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2, **kwargs)  # type: ignore[arg-type]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a machine dying would (nothing flushed, nothing said to anyone)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class SentinelCluster:
    """A primary, ``replicas`` replicas and three Sentinels watching them as :data:`SERVICE`."""

    directory: Path
    data: list[Node] = field(default_factory=list)
    sentinels: list[Node] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, *, replicas: int = 1) -> Self:
        cluster = cls(directory)
        try:
            primary = cluster._data_node("primary", None)
            for n in range(replicas):
                cluster._data_node(f"replica{n + 1}", primary.port)
            for n in range(3):
                cluster._sentinel(f"sentinel{n + 1}", primary.port)
            cluster.wait_ready(replicas)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    # --- processes -----------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> Node:
        port = int(args[args.index("--port") + 1])
        log = self.directory / f"{name}.log"
        process = subprocess.Popen(
            [find_redis_server(), *args, "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        return Node(name, port, process, log)

    def _data_node(self, name: str, primary_port: int | None) -> Node:
        work = self.directory / name
        work.mkdir(parents=True, exist_ok=True)
        args = [
            "--port", str(free_port()), "--bind", "127.0.0.1", "--dir", str(work), "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no", "--loglevel", "notice",
        ]  # fmt: skip
        if primary_port is not None:
            args += ["--replicaof", "127.0.0.1", str(primary_port)]
        node = self._spawn(name, args)
        self.data.append(node)
        _wait_answers(node)
        return node

    def _sentinel(self, name: str, primary_port: int) -> Node:
        port = free_port()
        conf = self.directory / f"{name}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 2\n"
        )
        node = self._spawn(name, [str(conf), "--sentinel", "--port", str(port), "--daemonize", "no"])
        self.sentinels.append(node)
        _wait_answers(node)
        return node

    # --- state ---------------------------------------------------------------------------------------------
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.sentinels]

    def sentinel_config(self) -> list[str]:
        """``[redis] sentinels`` for this cluster."""
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def primary_port(self) -> int | None:
        """The primary's port as the first Sentinel that answers names it."""
        for sentinel in self.sentinels:
            if not sentinel.alive():
                continue
            with contextlib.suppress(redis.RedisError, OSError):
                found = sentinel.client().execute_command("SENTINEL", "get-master-addr-by-name", SERVICE)
                if found:
                    return int(found[1])
        return None

    def primary(self) -> Node:
        port = self.primary_port()
        return next(n for n in self.data if n.port == port)

    def client(self, **kwargs: object) -> redis.Redis:
        """A client of the primary through the Sentinels (as guahao connects)."""
        return connect_sentinel(self.addresses(), SERVICE, **kwargs)

    def wait_ready(self, replicas: int) -> None:
        """Until every replica is in sync and every Sentinel knows the replicas and the other two Sentinels."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._ready(replicas):
                return
            time.sleep(0.2)
        raise AssertionError("the Sentinel cluster did not come up: " + self.logs_tail())

    def _ready(self, replicas: int) -> bool:
        with contextlib.suppress(redis.RedisError, OSError):
            info = self.data[0].client().info("replication")
            if info.get("connected_slaves", 0) < replicas:
                return False
            for sentinel in self.sentinels:
                client = sentinel.client()
                known = client.execute_command("SENTINEL", "replicas", SERVICE)
                others = client.execute_command("SENTINEL", "sentinels", SERVICE)
                if len(known) < replicas or len(others) < len(self.sentinels) - 1:
                    return False
            return True
        return False

    def wait_promotion(self, old_port: int, timeout: float = 30.0) -> float:
        """Wait until the Sentinels name a primary other than ``old_port`` that answers as a primary; when it did
        (``time.monotonic()``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port is not None and port != old_port:
                with contextlib.suppress(redis.RedisError, OSError):
                    if redis.Redis(port=port, socket_timeout=1).info("replication")["role"] == "master":
                        return time.monotonic()
            time.sleep(0.05)
        raise AssertionError("no replica was promoted: " + self.logs_tail())

    def logs_tail(self) -> str:
        parts = []
        for node in [*self.data, *self.sentinels]:
            with contextlib.suppress(OSError):
                parts.append(f"--- {node.name}\n" + "\n".join(node.log.read_text().splitlines()[-8:]))
        return "\n".join(parts)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _wait_answers(node: Node, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise AssertionError(f"{node.name} exited: " + (node.log.read_text() if node.log.exists() else ""))
        with contextlib.suppress(redis.RedisError, OSError):
            if node.client().ping():
                return
        time.sleep(0.05)
    raise AssertionError(f"{node.name} did not answer within {timeout:g} s")


def show_figure(request: pytest.FixtureRequest, line: str) -> None:
    """Show a measured figure in every run (not only with ``-s``), as ``tests/test_phrases.py`` does."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
