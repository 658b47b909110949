"""The Redis round trips of each message of the booking conversation, counted, so that they cannot creep back.

Issue 15: the release rush is bounded by what a message costs; a booking message cost the engine's two round trips
(``dialog_begin.lua``, ``dialog_end.lua``) plus on average nine of the dialog's own. Each message of the whole
booking (menu choice → department → date → slot → Y) goes through the signed WeChat webhook over the real engine and
a real redis-server; every request the client sends (a command, a pipeline, a script) counts as one round trip.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask

import tests.test_wechat as wechat
from adapters.wechat.webhook import wechat_blueprint
from app.services import build_engine
from app.worker import run_worker
from bot.config import build_config
from bot.patients import account_id
from dialogs.book_base import SHORT_WINDOW_DAYS
from tests.support import CONFIG_RAW, NOW, Services, id_number, make_services, patient_name, phone_number, schedule_csv

CONVERSATION = [
    ("1", "请选择第一医院的科室"),
    ("内科", "请选择内科的就诊日期"),
    ("1", "内科"),
    ("1", "回复 Y 确认"),
    ("Y", "预约成功"),
]
"""The rush's conversation (bench/rush.py): each message and what its reply says."""
BUDGET = [5, 3, 3, 4, 5]
"""Round trips per message, the engine's two included (before issue 15's cuts: 14, 18, 6, 5, 12; before the
schedule cache, bot.schedule_cache: 6, 4, 4, 4, 6; before the confirmations' batch job: 5, 3, 3, 4, 6). The Y's
is one more when no confirmations' job is queued yet (it queues one): :data:`QUEUEING`."""
QUEUEING = [*BUDGET[:-1], BUDGET[-1] + 1]


class Counter:
    """Counts the requests a Redis client's connections send (one per command, pipeline or script call)."""

    def __init__(self) -> None:
        self.sent = 0

    def install(self, monkeypatch: pytest.MonkeyPatch, client: redis.Redis) -> None:
        connection = client.connection_pool.get_connection()
        kind = type(connection)
        client.connection_pool.release(connection)
        send = kind.send_packed_command

        def counting(this: Any, command: Any, check_health: bool = True) -> None:
            self.sent += 1
            send(this, command, check_health)

        monkeypatch.setattr(kind, "send_packed_command", counting)


def one_hospital(client: redis.Redis, **policy: Any) -> Services:
    raw: dict[str, Any] = {**CONFIG_RAW, "hospitals": CONFIG_RAW["hospitals"][:1], "policy": policy}
    services = make_services(client, build_config(raw))
    services.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1), hospitals=("h1",)))
    return services


def webhook(svc: Services) -> wechat.Platform:
    """The signed WeChat webhook over the real engine, through the Flask test client."""
    app = Flask("round-trips")
    app.register_blueprint(
        wechat_blueprint(wechat.webhook_services(svc, build_engine(svc)), wechat.wechat_config(False), lambda *_: None)
    )
    return wechat.Platform(wechat.FlaskTransport(app), False)


def test_each_booking_message_stays_within_its_round_trips(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = one_hospital(redis_db)
    platform = webhook(svc)
    counter = Counter()
    counter.install(monkeypatch, redis_db)
    spent: list[list[int]] = []
    for n in range(4):  # the first conversation loads the scripts: the budget holds from the second on
        openid = f"o-budget-{n}"
        svc.patients.add_patient(account_id(svc.box, "wechat", openid), "wechat", *_person(n))
        if n == 3:  # a worker sent every confirmation waiting, and its job ended: this booking queues the next job
            run_worker(svc, burst=True)
        spent.append([])
        for content, said in CONVERSATION:
            before = counter.sent
            assert said in platform.send(openid, content)
            spent[-1].append(counter.sent - before)
    assert spent[2] == BUDGET  # the first booking's job still queued (no worker here)
    assert spent[3] == QUEUEING


def _person(n: int) -> tuple[str, str, str]:
    return patient_name(n), id_number(n), phone_number(n)


def test_a_long_booking_window_offers_the_same_dates(redis_db: redis.Redis) -> None:
    """A window longer than SHORT_WINDOW_DAYS is read through the hospital's stored dates, a short one from each
    day's slot index: the same departments and dates either way."""
    replies = []
    for days_ahead in (SHORT_WINDOW_DAYS - 11, SHORT_WINDOW_DAYS + 29):  # both hold the 8 days of slots
        redis_db.flushall()
        svc = one_hospital(redis_db, booking_days_ahead=days_ahead)
        platform, openid = webhook(svc), f"o-window-{days_ahead}"
        svc.patients.add_patient(account_id(svc.box, "wechat", openid), "wechat", *_person(days_ahead))
        replies.append([platform.send(openid, content) for content, _ in CONVERSATION[:3]])
    assert replies[0] == replies[1]
    assert replies[0][1].count("\n") == 8  # the 8 days of slots, one a line
