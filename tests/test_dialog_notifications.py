"""A booking made in the dialog is confirmed by a push and reminded; a cancellation made in the dialog stops that."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis

from app.worker import run_worker
from bot.clock import ManualClock
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import NOW, SHANGHAI, make_services, schedule_csv


def test_booked_in_the_chat_then_confirmed_reminded_and_cancelled(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    chat = Chat(svc, Channel.wechat, "openid-notified")
    chat.send("1")
    chat.verify("周七", "11010519491231002X", "13812345678")
    for typed in ("1", "内科", "11月26日", "1"):
        chat.send(typed)
    assert "识别码" in chat.send("Y")

    run_worker(svc, burst=True)
    kinds = [m["kind"] for m in svc.outbox.messages_for("openid-notified")]
    assert kinds == ["confirmation"], "the confirmation is pushed by the worker, not inline"

    assert isinstance(svc.clock, ManualClock)
    svc.clock.set(datetime(2026, 11, 25, 13, 1, tzinfo=SHANGHAI))  # 2 h before the 15:00 deadline the day before
    run_worker(svc, burst=True)
    reminders = [m for m in svc.outbox.messages_for("openid-notified") if m["kind"] == "reminder"]
    assert len(reminders) == 1

    for typed in ("3", "Y"):
        chat.send(typed)
    svc.clock.set(datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI))  # past the day-before and the 2-h-before moments
    before = len(svc.outbox.messages_for("openid-notified"))
    run_worker(svc, burst=True)
    assert len(svc.outbox.messages_for("openid-notified")) == before, "nothing is sent for a cancelled appointment"
