"""Redis does not grow forever (issue 16 part 5): after a patient is verified, books, and the day goes by, every key
is either one the bot keeps working on (a patient, an account, the schedule, an appointment until the archive takes
it) or one that expires by itself (a code, a session, a cached reply, a rate counter, a delivery record)."""

from __future__ import annotations

import re
from datetime import timedelta

import redis

from bot.archive import Archive
from tests.dialog_support import Chat
from tests.support import Services

KEPT = {
    "gh:account:*",  # one hash per account (its patients as fields)
    "gh:patient:*",
    "gh:patient:*:appts",  # leave with the archived appointments (empty keys vanish)
    "gh:patient:*:version",
    "gh:patient:*:violations",  # a patient's standing
    "gh:patient:*:standing",
    "gh:appt:*",  # until the archive
    "gh:appts:all",
    "gh:appts:date:*",
    "gh:appts:no-show-due",
    "gh:audit",  # trimmed by the archive
    "gh:slot:*",  # the schedule: past days dropped by the archive
    "gh:slot:*:appts",
    "gh:slots:*",
    "gh:schedule-dates:*",
    "gh:schedule:version",
    "gh:outbox",  # the console outbox (simulator and demo): a capped stream
    "gh:outbox:*",
    "gh:reminders:due",
    "gh:reminders:claimed",
    "gh:layout",
    "rq:*",  # RQ's own (jobs keep their result TTL)
}
_VARIABLE = re.compile(r"[0-9a-f]{40}|\d{8}|\d{4}-\d{2}-\d{2}")
_WHOLE = ("rq:", "gh:slots:", "gh:schedule-dates:")  # ids of hospitals and slots inside: one shape each


def _shape(key: str) -> str:
    for prefix in _WHOLE:
        if key.startswith(prefix):
            return prefix + "*"
    if key.startswith("gh:slot:"):
        return "gh:slot:*:appts" if key.endswith(":appts") else "gh:slot:*"
    return _VARIABLE.sub("*", key)


def test_every_key_is_kept_on_purpose_or_expires(svc: Services, redis_db: redis.Redis) -> None:
    chat = Chat(svc)
    chat.send("1")
    assert "身份证号校验通过" in chat.verify("王小明", "11010519491231002X", "13812345678")
    for _ in range(8):
        if "预约成功" in chat.send("Y" if "回复 Y 确认" in chat.transcript[-1][1] else "1"):
            break
    assert "预约成功" in chat.transcript[-1][1]
    svc.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    svc.standing.sweep_no_shows()
    Archive(svc.redis, svc.config, svc.clock).run()

    forever = {_shape(k.decode()) for k in redis_db.scan_iter() if redis_db.ttl(k) == -1}
    assert forever <= KEPT, forever - KEPT
    expiring = {_shape(k.decode()) for k in redis_db.scan_iter() if redis_db.ttl(k) > 0}
    assert {"gh:session:*", "gh:appt:*:notify"} <= expiring  # what a conversation and a booking leave behind
