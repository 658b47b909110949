"""The archive's files: daily JSON-lines files under one directory (``bot.archive``), private (directories 0700,
files 0600), appended with fsync, a line torn by a killed writer cut before the next append, read back by line."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_LOCK_NAME = ".lock"


class ArchiveFiles:
    """The daily JSON-lines files under one directory: private, appended with fsync, read back by id."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, kind: str, day: str) -> Path:
        """The file of one kind and day (``appointments/2026-11-24.jsonl``)."""
        return self.directory / kind / f"{day}.jsonl"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One archiving process at a time on this directory (the CLI beside a worker)."""
        _private_dir(self.directory)
        fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def append(self, relative: str, lines: list[dict[str, Any]]) -> None:
        """Append ``lines`` to a file and fsync it (a torn last line left by a killed run is cut first)."""
        path = self.directory / relative
        created = not path.exists()
        _private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            _cut_torn_tail(fd)
            data = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
            os.write(fd, data.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)

    def read(self, relative: str) -> Iterator[dict[str, Any]]:
        """The complete lines of a file (none when it does not exist; a torn line is skipped)."""
        path = self.directory / relative
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as handle:
            for raw in handle:
                if not raw.endswith("\n"):
                    continue
                with contextlib.suppress(json.JSONDecodeError):
                    line = json.loads(raw)
                    if isinstance(line, dict) and "id" in line:
                        yield line

    def days(self, kind: str) -> list[str]:
        """The days that have a file of this kind, oldest first."""
        folder = self.directory / kind
        return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _cut_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    at = size
    while at > 0:
        start = max(0, at - 65536)
        chunk = os.pread(fd, at - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        at = start
    os.ftruncate(fd, 0)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
