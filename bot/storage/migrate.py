"""Bring data written by an older guahao to the current key layout (``bot.storage.keys``); idempotent.

Layout 2 (a smaller Redis, issue 16) changed two things, both per patient:

- three keys per account and phone folded into the account hash (``keys.account``): the set
  ``account:<acct>:patients`` and sorted set ``account:<acct>:patients-order`` became its ``p:<pid>`` fields, the
  set ``phone:<hash>:patients`` became ``f:<pid>`` fields of that phone's SMS account;
- short field names in patient and account hashes (``bot.patients.Field``); ``phone_acct`` and ``updated_at``
  dropped (the first is derived from the phone, nothing read the second); an account's ``active`` pid became
  ``a``, the order of that patient.

The archive (``bot.archive``) runs this first, so the worker's first tick after an upgrade migrates. Every step can
be repeated (a killed migration is simply run again), never overwrites what the current code wrote meanwhile, and an
old key goes only after its content is in the new place.
"""

from __future__ import annotations

from typing import Any

import redis

from bot.patients import Field
from bot.records import text
from bot.storage import keys
from bot.storage.scripts import Scripts

LAYOUT = f"{keys.PREFIX}layout"
"""The key layout the data is in (absent: 1, before this migration)."""
CURRENT = 2
PATIENT_RENAMES = (
    ("name_enc", Field.NAME_ENC),
    ("id_enc", Field.ID_ENC),
    ("phone_enc", Field.PHONE_ENC),
    ("phone_hash", Field.PHONE_HASH),
    ("name_masked", Field.NAME_MASKED),
    ("id_masked", Field.ID_MASKED),
    ("phone_masked", Field.PHONE_MASKED),
    ("created_at", Field.CREATED),
    ("phone_acct", ""),
    ("updated_at", ""),
)
ACCOUNT_RENAMES = (("channel", Field.CHANNEL), ("created_at", Field.CREATED))


def migrate_layout(client: redis.Redis) -> int:
    """Bring older data to the current layout; how many keys it changed (0: nothing to do)."""
    if text(client.get(LAYOUT) or b"1") == str(CURRENT):
        return 0
    scripts = Scripts(client, "migrate_hash")
    changed = 0
    for key in client.scan_iter(match=f"{keys.PREFIX}phone:*:patients", count=1000):
        changed += _fold_phone(client, text(key))  # reads phone_acct: before the patients lose it
    for key in client.scan_iter(match=f"{keys.PREFIX}account:*:patients", count=1000):
        changed += _fold_account(client, text(key).removesuffix(":patients"))
    renames: dict[str, tuple[tuple[str, str], ...]] = {
        keys.patient(""): PATIENT_RENAMES,
        keys.account(""): ACCOUNT_RENAMES,
    }
    for prefix, pairs in renames.items():
        for key in map(text, client.scan_iter(match=f"{prefix}*", count=1000, _type="hash")):
            if ":" not in key[len(prefix) :]:  # the patient's or account's own hash, not a key under it
                changed += int(bool(scripts.run("migrate_hash", keys=[key], args=[x for pair in pairs for x in pair])))
    client.set(LAYOUT, str(CURRENT))
    return changed


def _fold_account(client: redis.Redis, account_key: str) -> int:
    members = sorted(text(m) for m in client.smembers(f"{account_key}:patients"))
    ranked: list[Any] = client.zrange(f"{account_key}:patients-order", 0, -1, withscores=True)
    order = {text(member): int(score) for member, score in ranked}
    last = max(order.values(), default=0)
    fields: dict[Any, Any] = {}
    for pid in members:
        if pid not in order:
            last += 1
            order[pid] = last
        fields[f"p:{pid}"] = order[pid]
    if fields:
        client.hset(account_key, mapping=fields)
    client.delete(f"{account_key}:patients", f"{account_key}:patients-order")
    return 1


def _fold_phone(client: redis.Redis, phone_key: str) -> int:
    for pid in map(text, client.smembers(phone_key)):
        phone_acct = client.hget(keys.patient(pid), "phone_acct")
        if phone_acct:
            client.hset(keys.account(text(phone_acct)), f"f:{pid}", 1)
    client.delete(phone_key)
    return 1
