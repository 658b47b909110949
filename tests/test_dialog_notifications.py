"""A booking made in the dialog is confirmed by a push and reminded; a cancellation made in the dialog stops that."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from app.worker import run_worker
from bot.clock import ManualClock
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import NOW, SHANGHAI, Services, make_config, make_services, schedule_csv


def book_26_november(svc: Services, user: str) -> Chat:
    """A new WeChat user verifies and books 内科 on 26 November in the chat; the chat."""
    chat = Chat(svc, Channel.wechat, user)
    chat.send("1")
    chat.verify("周七", "11010519491231002X", "13812345678")
    for typed in ("1", "内科", "11月26日", "1"):
        chat.send(typed)
    assert "识别码" in chat.send("Y")
    return chat


def test_booked_in_the_chat_then_confirmed_reminded_and_cancelled(redis_db: redis.Redis) -> None:
    svc = make_services(redis_db)
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    chat = book_26_november(svc, "openid-notified")

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


@pytest.mark.parametrize(
    ("late_cancel", "said"),
    [
        ("refuse", "已过取消截止时间(11月25日 周三 15:00),不能在线取消。"),
        ("allow_with_violation", "已过免费取消时间(11月25日 周三 15:00),如取消将记违约1次。"),
    ],
)
def test_a_confirmation_booked_past_the_free_cancellation_deadline_never_names_it_as_still_to_come(
    redis_db: redis.Redis, late_cancel: str, said: str
) -> None:
    """Booked in the evening for the next morning: the confirmation says the deadline (15:00 the day before) has
    passed and what cancelling means now, as the chat's own reply does — not "cancel before" a moment gone by."""
    svc = make_services(redis_db, make_config(late_cancel=late_cancel))
    svc.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=3)))
    assert isinstance(svc.clock, ManualClock)
    svc.clock.set(datetime(2026, 11, 25, 17, 31, tzinfo=SHANGHAI))
    book_26_november(svc, "openid-late")
    run_worker(svc, burst=True)
    [confirmation] = [m["text"] for m in svc.outbox.messages_for("openid-late") if m["kind"] == "confirmation"]
    assert said in confirmation and "前取消" not in confirmation, confirmation
