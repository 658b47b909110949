"""The personal-data scanner finds what it must (else a clean scan would prove nothing): every Redis type, every
form of a phone or an ID number, JSON escapes, RQ's compressed and base64 values, an append-only file's values."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
import redis

from bot.crypto import SecretBox
from tests.pii_scan import aof_arguments, assert_no_pii, assert_no_pii_in_bytes

NAME, ID, PHONE = "王小明", "110105194912311233", "13812345678"


@pytest.mark.parametrize(
    "store",
    [
        lambda r: r.set("k", f"hello {NAME}"),
        lambda r: r.set(f"k:{PHONE}", "1"),
        lambda r: r.hset("h", "f", f"+86{PHONE}"),
        lambda r: r.hset("h", f"86{PHONE}", "v"),
        lambda r: r.sadd("s", ID.lower()),
        lambda r: r.rpush("l", json.dumps({"name": NAME})),  # ensure_ascii: \u738b\u5c0f\u660e
        lambda r: r.zadd("z", {f"0086{PHONE}": 1}),
        lambda r: r.zadd("z", {"member": int(PHONE)}),  # as a score
        lambda r: r.xadd("x", {"text": f"ID {ID}"}),
        lambda r: r.hset("rq:job:1", "data", zlib.compress(json.dumps(["f", None, [NAME], {}]).encode())),
        lambda r: r.xadd("rq:results:1", {"return_value": base64.b64encode(json.dumps(PHONE).encode())}),
        lambda r: r.hset("rq:job:2", "exc_info", base64.b64encode(zlib.compress(f"Error {ID}".encode()))),
    ],
)
def test_personal_data_is_found_wherever_it_is_stored(redis_db: redis.Redis, store: object) -> None:
    store(redis_db)  # type: ignore[operator]
    with pytest.raises(AssertionError, match="personal data in clear"):
        assert_no_pii(redis_db, [NAME, ID, PHONE])


def test_ciphertexts_and_masked_forms_pass(redis_db: redis.Redis) -> None:
    box = SecretBox("k" * 32)
    redis_db.hset("p", mapping={"name_enc": box.encrypt(NAME, context="n"), "phone_masked": "138****5678"})
    redis_db.set("job", zlib.compress(b'["bot.jobs.send_reminder", null, ["12345678", "day_before"], {}]'))
    assert_no_pii(redis_db, [NAME, ID, PHONE])


def test_an_append_only_file_is_searched_value_by_value() -> None:
    compressed = zlib.compress(NAME.encode())
    aof = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n*1\r\n$5\r\nMULTI\r\n" % (len(compressed), compressed)
    assert list(aof_arguments(aof)) == [b"SET", b"k", compressed, b"MULTI"]
    assert_no_pii_in_bytes(aof, [NAME], "the raw bytes")  # compressed: not visible as such...
    with pytest.raises(AssertionError, match="append-only file"):
        assert_no_pii_in_bytes(aof_arguments(aof), [NAME], "the append-only file")  # ... but found decoded
    assert list(aof_arguments(b"REDIS0009...")) == [b"REDIS0009..."]


@pytest.mark.parametrize("typed", ["+86 138-1234-5678", "１３８１２３４５６７８"])
def test_a_typed_form_is_searched_as_typed_and_normalised(typed: str) -> None:
    with pytest.raises(AssertionError):
        assert_no_pii_in_bytes(typed.encode(), [typed], "a log")
    with pytest.raises(AssertionError):
        assert_no_pii_in_bytes(b"to +8613812345678", [typed], "a log")
