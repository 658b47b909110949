"""A scanner for personal data in clear anywhere in Redis: every key name and every value of every type.

``assert_no_pii(redis_db, ["张三", "110105199001011234", "13812345678"])`` fails if any of those appears in a key,
a string value, a hash field or value, a set/list member, a sorted-set member or score, or a stream id or field;
a zlib-compressed or base64 value (RQ's job ``data``, ``exc_info``, results) is searched decoded too. Phone numbers
are searched in every accepted form (11 digits, ``+86``, ``86``, ``0086``); ID numbers with either case of ``x``;
every form also as JSON writes it with ``ensure_ascii`` (``\\u738b...``). :func:`assert_no_pii_in_bytes` searches
any bytes the same way (a log; an append-only file, argument by argument with :func:`aof_arguments`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import unicodedata
import zlib
from collections.abc import Iterable, Iterator

import redis

import rules


def _forms(secret: str) -> set[str]:
    """Every form in which ``secret`` could be stored in clear."""
    forms = {secret, secret.strip(), unicodedata.normalize("NFKC", secret).strip()}
    mobile = rules.normalize_mobile(secret)
    if mobile is not None:
        national = mobile[3:]
        forms |= {national, mobile, "86" + national, "0086" + national}
    check = rules.validate_id_number(secret)
    if check.valid and check.normalized is not None:
        forms |= {check.normalized, check.normalized.lower()}
    forms |= {json.dumps(form)[1:-1] for form in forms}  # what json.dumps(..., ensure_ascii=True) stores
    return {f for f in forms if f}


def needles(secrets: Iterable[str]) -> list[bytes]:
    """The byte strings to search for: every stored form of every secret, longest first."""
    found = sorted({form.encode() for secret in secrets for form in _forms(secret)}, key=len, reverse=True)
    assert found, "a personal data scan needs at least one secret to look for"
    return found


def _decoded(blob: bytes, depth: int = 2) -> Iterator[bytes]:
    """``blob``, and what it holds when it is zlib-compressed or base64 (RQ compresses job data and ``exc_info``,
    and keeps results as base64 of JSON or of compressed text)."""
    yield blob
    if depth == 0:
        return
    with contextlib.suppress(zlib.error):
        yield from _decoded(zlib.decompress(blob), depth - 1)
    if len(blob) >= 8 and len(blob) % 4 == 0:
        with contextlib.suppress(binascii.Error):
            yield from _decoded(base64.b64decode(blob, validate=True), depth - 1)


def aof_arguments(data: bytes) -> Iterator[bytes]:
    """Every argument of every command in an append-only file (RESP arrays), so that compressed or base64 values
    are searched decoded; bytes that are not RESP (an RDB preamble) come as one blob."""
    at = 0
    while at < len(data):
        if data[at : at + 1] != b"*":
            yield data[at:]  # not a command: searched as it is
            return
        end = data.index(b"\r\n", at)
        count, at = int(data[at + 1 : end]), end + 2
        for _ in range(count):
            end = data.index(b"\r\n", at)
            size = int(data[at + 1 : end])
            yield data[end + 2 : end + 2 + size]
            at = end + 2 + size + 2


def _number(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else repr(score)


def _stored(client: redis.Redis, key: bytes) -> Iterator[bytes]:
    """The key's name and everything stored under it, as bytes."""
    yield key
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        value = client.get(key)
        if value is not None:
            yield value if isinstance(value, bytes) else str(value).encode()
    elif kind == "hash":
        for field, value in client.hgetall(key).items():
            yield field
            yield value
    elif kind == "set":
        yield from client.smembers(key)
    elif kind == "list":
        yield from client.lrange(key, 0, -1)
    elif kind == "zset":
        for member, score in client.zrange(key, 0, -1, withscores=True):
            yield member
            yield _number(score).encode()
    elif kind == "stream":
        for entry_id, fields in client.xrange(key, "-", "+"):
            yield entry_id
            for field, value in fields.items():
                yield field
                yield value
    else:  # pragma: no cover - a type this scanner does not know would hide data
        raise AssertionError(f"pii_scan: unknown Redis type {kind!r} of key {key!r}")


def stored_blobs(client: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, blob) for every key name and stored value in the current database."""
    for key in client.scan_iter(count=1000):
        raw_key = key if isinstance(key, bytes) else str(key).encode()
        for blob in _stored(client, raw_key):
            yield from ((raw_key, b) for b in _decoded(blob if isinstance(blob, bytes) else str(blob).encode()))


def assert_no_pii(redis_client: redis.Redis, secrets: Iterable[str]) -> None:
    """Fail if any secret (in any stored form) appears in clear in any key or value of the database."""
    wanted = needles(secrets)
    leaks: list[str] = []
    for key, blob in stored_blobs(redis_client):
        leaks += [f"{key.decode(errors='replace')} holds {needle.decode()!r}" for needle in wanted if needle in blob]
    assert not leaks, "personal data in clear in Redis:\n" + "\n".join(leaks[:20])


def assert_no_pii_in_bytes(data: bytes | Iterable[bytes], secrets: Iterable[str], where: str) -> None:
    """Fail if any secret (in any stored form) appears in clear in ``data`` (a log; an append-only file, best as
    its :func:`aof_arguments`), or in what a piece of it holds compressed or as base64."""
    wanted = needles(secrets)
    leaks = []
    for piece in [data] if isinstance(data, bytes) else data:
        for blob in _decoded(piece):
            for needle in wanted:
                at = blob.find(needle)
                if at >= 0:
                    context = blob[max(at - 80, 0) : at + len(needle) + 40].decode(errors="replace")
                    leaks.append(f"{needle.decode()!r} in ...{context}...")
    assert not leaks, f"personal data in clear in {where}:\n" + "\n".join(leaks[:20])
