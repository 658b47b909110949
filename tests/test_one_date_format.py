"""One appointment, one way of writing its day and time: the chat's confirmation and the pushed notice agree."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.worker import run_worker
from tests.dialog_support import Chat
from tests.support import NOW, SHANGHAI, Services
from texts.format import moment, money, visit

TOMORROW = NOW.date() + timedelta(days=1)  # Tuesday 24 November; h1 内科 08:00-12:00 general ¥5


@pytest.mark.parametrize(("lang", "switch"), [("zh", None), ("en", "English")])
def test_chat_and_push_write_the_appointment_alike(svc: Services, lang: str, switch: str | None) -> None:
    svc.patient(1, channel="wechat", user="openid-a")
    chat = Chat(svc, user="openid-a")
    if switch:
        chat.send(switch)
    chat.send("1")
    chat.send("1")
    chat.send("内科")
    chat.send("1")
    chat.send("1")
    done = chat.send("y")
    run_worker(svc, burst=True)
    [pushed] = [m["text"] for m in svc.outbox.messages_for("openid-a") if m["kind"] == "confirmation"]
    when = visit(TOMORROW, "08:00", lang, "12:00")
    assert when in done, done
    assert when in pushed, pushed
    assert money(500, lang) in done
    # h1 stops free cancellation at 15:00 the day before
    deadline = moment(datetime(2026, 11, 23, 15, 0, tzinfo=SHANGHAI), lang)
    assert deadline in done and deadline in pushed
