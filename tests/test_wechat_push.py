"""WeChat pushes through wechatpy to a local stand-in of the API: a shared token, refresh on 40001, unreachable
users, template vs customer-service messages, send-once idempotency, the custom menu."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from adapters.console.sender import ConsoleSender
from adapters.wechat.push import MENU, UNREACHABLE, WeChatApi, WeChatSender, create_menu, wechat_sender
from bot.config import WeChatConfig
from bot.notifications.outbox import OutboundMessage, OutboxKind
from bot.patients import account_id
from bot.storage import keys
from tests.support import Services
from tests.wechat_standin import APP_ID, APP_SECRET, WeChatStandin, running_standin

OPENID = "o-user-1"
TEMPLATE = "tmpl-reminder-1"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
TOKEN = "/cgi-bin/token"


@pytest.fixture
def standin() -> Iterator[WeChatStandin]:
    with running_standin() as state:
        yield state


def wechat_config(standin: WeChatStandin, template: str = TEMPLATE) -> WeChatConfig:
    return WeChatConfig(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        token="tok",
        api_base_url=standin.base_url,
        reminder_template_id=template,
    )


def sender_for(svc: Services, standin: WeChatStandin, template: str = TEMPLATE) -> WeChatSender:
    config = wechat_config(standin, template)
    return WeChatSender(WeChatApi(config, svc.redis), svc.redis, svc.box, config)


def reminder(key: str | None = "reminder:1234:day_before", kind: OutboxKind = OutboxKind.reminder) -> OutboundMessage:
    return OutboundMessage("wechat", OPENID, kind, "明天 08:00 第一医院 内科 就诊,请按时到达。", key)


def test_token_is_fetched_once_and_shared_by_two_processes(svc: Services, standin: WeChatStandin) -> None:
    first, second = sender_for(svc, standin), sender_for(svc, standin)  # two processes: two clients, one Redis
    assert first.send(reminder("a")).ok
    assert second.send(reminder("b")).ok
    assert first.send(reminder("c")).ok
    assert len(standin.calls(TOKEN)) == 1
    assert {r.query["access_token"] for r in standin.calls(TEMPLATE_SEND)} == {"TOKEN-1"}
    assert svc.redis.ttl(keys.wechat_access_token(APP_ID)) <= 7200 - 300


def test_concurrent_first_use_fetches_one_token(svc: Services, standin: WeChatStandin) -> None:
    standin.token_delay_s = 0.3  # a slow token endpoint: the others must wait on the lock, not fetch too
    config = wechat_config(standin)
    apis = [WeChatApi(config, svc.redis) for _ in range(4)]
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda api=api: tokens.append(api.token())) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens == ["TOKEN-1"] * 4
    assert standin.tokens_issued == 1


def test_invalid_token_is_refreshed_once_and_the_call_retried(svc: Services, standin: WeChatStandin) -> None:
    sender = sender_for(svc, standin)
    assert sender.send(reminder("a")).ok
    standin.invalidate_token()  # e.g. the token was reset in the WeChat console
    result = sender.send(reminder("b"))
    assert result.ok and result.provider_id
    assert standin.tokens_issued == 2
    assert [r.query["access_token"] for r in standin.calls(TEMPLATE_SEND)] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]


def test_forced_40001_refreshes_and_retries(svc: Services, standin: WeChatStandin) -> None:
    sender = sender_for(svc, standin)
    sender._api.token()
    standin.fail_next(40001)
    assert sender.send(reminder()).ok
    assert standin.tokens_issued == 2
    assert len(standin.calls(TEMPLATE_SEND)) == 2


def test_a_token_refreshed_by_another_process_is_not_fetched_again(svc: Services, standin: WeChatStandin) -> None:
    config = wechat_config(standin)
    mine, theirs = WeChatApi(config, svc.redis), WeChatApi(config, svc.redis)
    stale = mine.token()
    fresh = theirs.refresh(stale=stale)  # they saw 40001 first and refreshed
    assert fresh == "TOKEN-2"
    assert mine.refresh(stale=stale) == fresh  # we saw 40001 with the old token too: no second fetch
    assert standin.tokens_issued == 2


@pytest.mark.parametrize("errcode", [45015, 43004])
def test_out_of_window_or_unfollowed_is_unreachable(svc: Services, standin: WeChatStandin, errcode: int) -> None:
    sender = sender_for(svc, standin, template="")  # customer-service text: subject to the 48 h window
    standin.fail_next(errcode)
    result = sender.send(reminder("k"))
    assert not result.ok and result.error == UNREACHABLE
    acct = account_id(svc.box, "wechat", OPENID)
    assert svc.redis.exists(keys.wechat_unsubscribed(acct)) == (1 if errcode == 43004 else 0)
    if errcode == 45015:
        assert sender.send(reminder("k")).ok, "a failed send releases its key: a later retry may send"


def test_unsubscribed_user_gets_nothing(svc: Services, standin: WeChatStandin) -> None:
    svc.redis.set(keys.wechat_unsubscribed(account_id(svc.box, "wechat", OPENID)), 1)
    result = sender_for(svc, standin).send(reminder())
    assert result == result.__class__(ok=False, error=UNREACHABLE)
    assert standin.requests == []


def test_same_idempotency_key_sends_once(svc: Services, standin: WeChatStandin) -> None:
    first, second = sender_for(svc, standin), sender_for(svc, standin)
    one = first.send(reminder())
    two = second.send(reminder())  # a retried job, maybe in another worker
    assert one.ok and two == one
    assert len(standin.calls(TEMPLATE_SEND)) == 1


@pytest.mark.parametrize(
    ("kind", "template", "path"),
    [
        (OutboxKind.reminder, TEMPLATE, TEMPLATE_SEND),
        (OutboxKind.broadcast, TEMPLATE, TEMPLATE_SEND),
        (OutboxKind.confirmation, TEMPLATE, TEMPLATE_SEND),
        (OutboxKind.cancellation, TEMPLATE, TEMPLATE_SEND),
        (OutboxKind.reply, TEMPLATE, CUSTOM),
        (OutboxKind.reminder, "", CUSTOM),
    ],
)
def test_kind_picks_template_or_customer_service(
    svc: Services, standin: WeChatStandin, kind: OutboxKind, template: str, path: str
) -> None:
    message = reminder(None, kind)
    assert sender_for(svc, standin, template).send(message).ok
    [call] = [r for r in standin.requests if r.method == "POST"]
    assert call.path == path and call.body is not None
    assert call.body["touser"] == OPENID
    if path == TEMPLATE_SEND:
        assert call.body["template_id"] == TEMPLATE
        assert call.body["data"] == {"content": {"value": message.text}}
    else:
        assert call.body["msgtype"] == "text" and call.body["text"] == {"content": message.text}


def test_other_platform_errors_are_reported(svc: Services, standin: WeChatStandin) -> None:
    standin.fail_next(45009)  # API quota
    result = sender_for(svc, standin).send(reminder())
    assert not result.ok and result.error == "wechat error 45009"


def test_create_menu(svc: Services, standin: WeChatStandin) -> None:
    create_menu(WeChatApi(wechat_config(standin), svc.redis))
    [call] = standin.calls("/cgi-bin/menu/create")
    assert call.body == MENU
    assert [(b["name"], b["key"]) for b in MENU["button"]] == [
        ("预约挂号", "BOOK"),
        ("我的预约", "MY_APPOINTMENTS"),
        ("更多", "HELP"),
    ]


def test_console_push_records_in_the_outbox(svc: Services) -> None:
    sender = wechat_sender(WeChatConfig(token="t", push="console"), svc.redis, svc.box, svc.outbox)
    assert isinstance(sender, ConsoleSender)
    assert sender.send(OutboundMessage("wechat", OPENID, OutboxKind.reply, "稍后送达的回复")).ok
    [recorded] = svc.outbox.messages_for(OPENID)
    assert recorded["kind"] == "reply" and recorded["text"] == "稍后送达的回复"


def test_api_push_builds_a_wechat_sender(svc: Services, standin: WeChatStandin) -> None:
    sender = wechat_sender(wechat_config(standin), svc.redis, svc.box, svc.outbox)
    assert isinstance(sender, WeChatSender)
    assert sender.send(reminder()).ok
