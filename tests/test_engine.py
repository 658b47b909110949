"""The message pipeline: serialised per user, retries processed once, idle timeout, unknown states, failures."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import redis

from bot.clock import ManualClock
from bot.patients import account_id
from bot.storage import keys
from dialogs.message import Channel, Inbound
from dialogs.session import seal_data
from tests.dialog_support import Chat
from tests.support import Services, clock, make_services


def together(calls: list[threading.Thread]) -> None:
    for call in calls:
        call.start()
    for call in calls:
        call.join(30)


def test_two_messages_of_one_user_at_once_are_serialised(svc: Services) -> None:
    users = [f"openid-{n}" for n in range(20)]
    chats = {u: Chat(svc, Channel.wechat, u) for u in users}
    for chat in chats.values():
        chat.send("1")  # now asked for a name
    replies: dict[str, list[str]] = {u: [] for u in users}
    barrier = threading.Barrier(len(users) * 2)

    def send(user: str, typed: str) -> None:
        barrier.wait()
        replies[user].append("\n".join(o.text for o in chats[user].engine.handle(Inbound(Channel.wechat, user, typed))))

    together([threading.Thread(target=send, args=(u, t)) for u in users for t in ("张三", "李四")])
    for user in users:
        kinds = Counter("asked_id" if "身份证号:" in r and "请输入" in r else "bad_id" for r in replies[user])
        # one message took the name step, the other was then read as an ID number: never both as names
        assert kinds == Counter({"asked_id": 1, "bad_id": 1}), replies[user]
        state = svc.redis.hget(keys.session(account_id(svc.box, "wechat", user)), "state")
        assert state == b"verify.id_number"


def test_a_retry_with_the_same_message_id_is_processed_once(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    first = chat.send("张三", message_id="msg-42")
    again = chat.send("张三", message_id="msg-42")
    assert first == again and "身份证号" in first
    state = svc.redis.hget(keys.session(account_id(svc.box, "wechat", chat.user)), "state")
    assert state == b"verify.id_number", "the retry did not take a second step"


def test_three_concurrent_deliveries_of_one_message_give_one_step_and_three_identical_answers(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    answers: list[str] = []
    barrier = threading.Barrier(3)

    def deliver() -> None:
        barrier.wait()
        answers.append("\n".join(o.text for o in chat.engine.handle(Inbound(Channel.wechat, chat.user, "王五", "m-7"))))

    together([threading.Thread(target=deliver) for _ in range(3)])
    assert len(answers) == 3 and len(set(answers)) == 1 and "请输入王*的18位" in answers[0]
    steps = svc.redis.hget(keys.session(account_id(svc.box, "wechat", chat.user)), "state")
    assert steps == b"verify.id_number"


def test_idle_for_30_minutes_starts_over_saying_so(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    assert isinstance(svc.clock, ManualClock)
    svc.clock.advance(timedelta(minutes=29))
    assert "身份证号" in chat.send("张三"), "29 minutes is not idle"
    svc.clock.advance(timedelta(minutes=31))
    reply = chat.send("11010519491231002X")
    assert "超过30分钟未操作" in reply and "1. 预约挂号" in reply


@pytest.mark.parametrize(
    ("field", "value"), [("state", "book.a_state_renamed_by_an_upgrade"), ("state", "nodialog.x"), ("schema", "0")]
)
def test_unknown_stored_state_goes_to_the_menu_with_an_apology(svc: Services, field: str, value: str) -> None:
    chat = Chat(svc)
    chat.send("1")
    svc.redis.hset(keys.session(account_id(svc.box, "wechat", chat.user)), field, value)
    reply = chat.send("张三")
    assert "系统已更新" in reply and "1. 预约挂号" in reply


def test_an_unexpected_failure_is_answered_and_logged_without_personal_data(
    svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(svc)
    chat.send("1")
    session = keys.session(account_id(svc.box, "wechat", chat.user))
    acct = account_id(svc.box, "wechat", chat.user)
    garbage = seal_data(svc.box, acct, {"secret.phone": "garbage"})
    svc.redis.hset(session, mapping={"data": garbage, "state": "verify.code"})
    reply = chat.send("123456")
    assert reply == "系统繁忙,请稍后再试。"
    assert "dialog step failed" in caplog.text and "garbage" not in caplog.text
    assert "请输入就诊人姓名" in chat.send("1"), "the user can carry on"


def test_too_many_messages_a_minute_are_refused(redis_db: redis.Redis) -> None:
    from tests.support import make_config

    svc = make_services(redis_db, make_config(rate_limit_per_minute=3))
    clock(svc).set(clock(svc).now().replace(second=15))
    chat = Chat(svc)
    replies = [chat.send("5") for _ in range(4)]
    assert "过于频繁" not in replies[-2]
    assert replies[-1] == "您发送消息过于频繁,请45秒后再试。", "it says how long to wait: until the next minute"
    clock(svc).advance(timedelta(seconds=45))
    assert "过于频繁" not in chat.send("5"), "a new minute, a new count"


def test_language_is_remembered_per_account(svc: Services) -> None:
    chat = Chat(svc)
    assert "Switched to English" in chat.send("English")
    svc.redis.delete(keys.session(account_id(svc.box, "wechat", chat.user)))
    assert "Reply with a number" in chat.send("menu")
    assert "已切换为中文" in chat.send("中文")
