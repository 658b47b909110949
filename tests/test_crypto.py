"""Personal data encryption: round trip, tamper detection, context binding, keyed hashes, key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.crypto import DecryptionError, SecretBox, resolve_secret_key
from bot.errors import ConfigError

KEY = "s" * 40


def test_round_trip_and_fresh_nonces() -> None:
    box = SecretBox(KEY)
    a = box.encrypt("11010519491231002X", context="patient.id_number")
    b = box.encrypt("11010519491231002X", context="patient.id_number")
    assert a != b and "1101" not in a
    assert box.decrypt(a, context="patient.id_number") == "11010519491231002X"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
        lambda t: "v2" + t[2:],
        lambda t: "v1:not base64!",
        lambda t: "garbage",
    ],
)
def test_tampered_values_do_not_decrypt(mangle: object) -> None:
    box = SecretBox(KEY)
    token = box.encrypt("13812345678", context="patient.phone")
    with pytest.raises(DecryptionError):
        box.decrypt(mangle(token), context="patient.phone")  # type: ignore[operator]


def test_value_is_bound_to_its_context_and_key() -> None:
    token = SecretBox(KEY).encrypt("13812345678", context="patient.phone")
    with pytest.raises(DecryptionError):
        SecretBox(KEY).decrypt(token, context="patient.name")
    with pytest.raises(DecryptionError):
        SecretBox("t" * 40).decrypt(token, context="patient.phone")


def test_lookup_hash_is_keyed_and_stable() -> None:
    box = SecretBox(KEY)
    assert box.lookup_hash("x", kind="id") == SecretBox(KEY).lookup_hash("x", kind="id")
    assert box.lookup_hash("x", kind="id") != SecretBox("t" * 40).lookup_hash("x", kind="id")
    assert box.lookup_hash("x", kind="id") != box.lookup_hash("x", kind="phone")


def test_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        SecretBox("short")


def test_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    assert resolve_secret_key(KEY, tmp_path) == KEY
    first = resolve_secret_key("", tmp_path / "data")
    assert len(first) >= 32
    assert stat.S_IMODE((tmp_path / "data" / "secret.key").stat().st_mode) == 0o600
    assert resolve_secret_key("", tmp_path / "data") == first


def test_unwritable_key_location_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot keep a generated one"):
        resolve_secret_key("", blocker / "data")
