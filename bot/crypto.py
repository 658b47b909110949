"""Personal data at rest: authenticated encryption (AES-GCM) and keyed look-up hashes (HMAC-SHA256).

Both keys are derived with HKDF from ``security.secret_key``, so one secret in the configuration is all an
operator keeps. Ciphertexts are bound to what they hold (``context``), so a value copied into another field
does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import ConfigError, GuahaoError

log = logging.getLogger(__name__)

_VERSION = "v1"
_NONCE_BYTES = 12
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every sealed record: ``json.dumps`` with options builds a new one per call."""
SECRET_FILE = "secret.key"


class DecryptionError(GuahaoError):
    """A stored value does not decrypt with this key (tampered, or encrypted with another secret_key)."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guahao", info=purpose).derive(secret.encode())


class SecretBox:
    """Encrypts and hashes personal data with keys derived from one secret."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 32:
            raise ConfigError("security.secret_key: expected a string of at least 32 characters")
        self._aead = AESGCM(_derive(secret_key, b"guahao personal data encryption v1"))
        self._hash_key = _derive(secret_key, b"guahao personal data lookup v1")

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """An opaque printable token holding ``plaintext``; a fresh nonce each time."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of a token made by :meth:`encrypt` with the same context."""
        version, _, body = token.partition(":")
        try:
            if version != _VERSION:
                raise ValueError(version)
            raw = base64.urlsafe_b64decode(body.encode())
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionError(f"stored {context} does not decrypt with the configured secret_key") from None

    def encrypt_json(self, value: Any, *, context: str) -> str:
        """:meth:`encrypt` of ``value`` written as compact JSON (a whole record sealed as one blob)."""
        return self.encrypt(_COMPACT_JSON.encode(value), context=context)

    def decrypt_json(self, token: str, *, context: str) -> Any:
        """The value sealed by :meth:`encrypt_json` with the same context."""
        return json.loads(self.decrypt(token, context=context))

    def lookup_hash(self, value: str, *, kind: str) -> str:
        """A keyed hash to find or count by a value without storing it (e.g. an ID number)."""
        return hmac.new(self._hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]


def resolve_secret_key(configured: str, data_dir: str | Path) -> str:
    """The configured key, else one generated once and kept (mode 0600) in ``<data_dir>/secret.key``."""
    if configured:
        return configured
    path = Path(data_dir) / SECRET_FILE
    try:
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    except FileExistsError:  # another process generated it first: use theirs
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"security.secret_key: empty, and cannot keep a generated one in {path}: {exc}") from None
    log.warning("security.secret_key is empty: generated one in %s; set your own in production", path)
    return key
