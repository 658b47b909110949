"""The WeChat webhook, called the way WeChat calls it: requests signed (and in safe mode encrypted) with wechatpy's
own code, posted through the Flask test client and through a real server on 127.0.0.1."""

from __future__ import annotations

import hmac
import http.client
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import xmltodict  # type: ignore[import-untyped]  # wechatpy's parser, never the webhook's
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner
from werkzeug.serving import make_server

from adapters.wechat import parse
from adapters.wechat.parse import MAX_BODY_BYTES, REPLY_LIMIT_BYTES, split_reply
from adapters.wechat.push import Followers
from adapters.wechat.webhook import WeChatServices, wechat_blueprint
from app.late_replies import LateReplies
from app.services import build_engine
from app.worker import run_worker
from bot.clock import ManualClock
from bot.config import WeChatConfig
from bot.patients import account_id
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from dialogs.session import Session
from tests.support import SHANGHAI, Services, id_number, make_services

TOKEN = "guahao-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
ACCOUNT = "gh_0123456789ab"
PHONE = "13912345678"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>o-evil</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&x;</Content><MsgId>2</MsgId></xml>"""


# --- WeChat's side ------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    body: bytes


class FlaskTransport:
    """Requests through the Flask test client."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def request(self, method: str, query: dict[str, str], body: bytes | None = None) -> Answer:
        client = self.app.test_client()  # one per call: calls may come from several threads
        url = "/wechat?" + urllib.parse.urlencode(query)
        response = client.open(url, method=method, data=body, content_type="text/xml")
        return Answer(response.status_code, response.get_data())


class HttpTransport:
    """Requests over TCP to a real server on 127.0.0.1."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, query: dict[str, str], body: bytes | None = None) -> Answer:
        url = f"{self.base}/wechat?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "text/xml"})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read())


Transport = FlaskTransport | HttpTransport


def fields(xml: str) -> dict[str, str]:
    """The fields of a flat ``<xml>`` document (WeChat's encrypted envelope, our encrypted reply)."""
    return {child.tag: child.text or "" for child in ElementTree.fromstring(xml)}


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


class Platform:
    """The WeChat server: builds, signs and (in safe mode) encrypts pushes like it does, and reads the replies."""

    def __init__(self, transport: Transport, safe: bool) -> None:
        self.transport = transport
        self.safe = safe
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self._ids = iter(range(10**17, 10**18))

    def msg_id(self) -> str:
        return str(next(self._ids))

    def url_check(self, echostr: str = "echo-123", timestamp: int | None = None, forged: bool = False) -> Answer:
        ts, nonce = str(timestamp if timestamp is not None else int(time.time())), "nonce-1"
        sig = signature(TOKEN if not forged else "not-the-token", ts, nonce)
        return self.transport.request("GET", {"signature": sig, "timestamp": ts, "nonce": nonce, "echostr": echostr})

    def post(
        self,
        xml: str | bytes,
        *,
        timestamp: int | None = None,
        token: str = TOKEN,
        forge_msg_signature: bool = False,
        encrypt: bool | None = None,
    ) -> Answer:
        ts, nonce = str(timestamp if timestamp is not None else int(time.time())), "n" + self.msg_id()[-8:]
        query = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "o"}
        body = xml.encode("utf-8") if isinstance(xml, str) else xml
        if self.safe if encrypt is None else encrypt:
            envelope = fields(self.crypto.encrypt_message(body.decode("utf-8"), nonce, ts))
            body = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
            ).encode()
            msg_sig = envelope["MsgSignature"] if not forge_msg_signature else "0" * 40
            query |= {"encrypt_type": "aes", "msg_signature": msg_sig}
        return self.transport.request("POST", query, body)

    def reply_of(self, answer: Answer) -> str:
        """The text the user sees ("" for ``success``); the reply is checked as WeChat checks it."""
        assert answer.status == 200, (answer.status, answer.body)
        if answer.body in (b"success", b""):
            return ""
        xml = answer.body.decode("utf-8")
        if self.safe:
            envelope = fields(xml)
            xml = self.crypto.decrypt_message(xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = parse_message(xml)
        assert reply.type == "text" and reply.source == ACCOUNT
        content = str(reply.content)
        assert len(content.encode("utf-8")) <= REPLY_LIMIT_BYTES
        return content

    def send(self, openid: str, content: str, msg_id: str | None = None) -> str:
        return self.reply_of(self.post(text_xml(openid, content, msg_id or self.msg_id())))

    def event(self, openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
        # events are deduped by (user, CreateTime, Event): CreateTime is in seconds, so a fast test gives each
        # event a second of its own, as a person clicking would
        self._clock = max(getattr(self, "_clock", 0) + 1, int(time.time()))
        return self.reply_of(self.post(event_xml(openid, event, key, create_time or self._clock)))


def text_xml(openid: str, content: str, msg_id: str, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def other_xml(openid: str, msg_type: str, extra: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{extra}"
        f"<MsgId>{int(time.time() * 1000)}</MsgId></xml>"
    )


# --- the bot's side -----------------------------------------------------------------------------------------
@dataclass
class Bot:
    services: Services
    engine: Engine
    platform: Platform
    handed: list[tuple[Inbound, int]] = field(default_factory=list)
    """What the webhook handed to the worker (the real hand-off: an RQ job is enqueued for each)."""

    def work(self) -> None:
        """Run guahao's worker until its queue is empty (the jobs really run)."""
        run_worker(self.services, burst=True)

    def pushed(self, openid: str) -> list[str]:
        """The replies pushed to ``openid`` by the worker (the console outbox: no WeChat API is configured)."""
        return [m["text"] for m in self.services.outbox.messages_for(openid) if m["kind"] == "reply"]


def wechat_config(safe: bool, token: str = TOKEN) -> WeChatConfig:
    return WeChatConfig(app_id=APP_ID, app_secret="s", token=token, encoding_aes_key=AES_KEY if safe else "")


def webhook_services(svc: Services, engine: Engine) -> WeChatServices:
    """What the composition root hands the webhook."""
    return WeChatServices(engine, svc.box, svc.patients, Followers(svc.redis))


@contextmanager
def running_bot(svc: Services, safe: bool, transport: str, **options: Any) -> Iterator[Bot]:
    """The webhook over the real engine, reached through the Flask test client or a real server."""
    engine = build_engine(svc)
    handed: list[tuple[Inbound, int]] = []
    late = LateReplies(svc.redis, svc.box)

    def hand_off(inbound: Inbound, answered: int) -> None:
        handed.append((inbound, answered))
        late(inbound, answered)

    app = Flask(__name__)
    app.register_blueprint(wechat_blueprint(webhook_services(svc, engine), wechat_config(safe), hand_off, **options))
    if transport == "flask":
        yield Bot(svc, engine, Platform(FlaskTransport(app), safe), handed)
        return
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Bot(svc, engine, Platform(HttpTransport(f"http://127.0.0.1:{server.server_port}"), safe), handed)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["plain", "safe"])
def safe(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "safe")


@pytest.fixture(params=["flask", "http"])
def bot(request: pytest.FixtureRequest, svc: Services, safe: bool) -> Iterator[Bot]:
    """Every combination: plain and safe mode, test client and real server."""
    with running_bot(svc, safe, request.param) as running:
        yield running


@pytest.fixture
def fbot(svc: Services, safe: bool) -> Iterator[Bot]:
    """Plain and safe mode through the test client."""
    with running_bot(svc, safe, "flask") as running:
        yield running


def steps_of(svc: Services, openid: str) -> int:
    """The dialog steps the engine really took for a user this minute: ``dialog_begin.lua`` counts each step once
    (for the rate limit), a deduped retry never."""
    acct = account_id(svc.box, Channel.wechat.value, openid)
    return int(svc.redis.get(keys.rate(acct, int(svc.clock.now().timestamp() // 60))) or 0)


def hold_user_lock(svc: Services, openid: str, seconds: float) -> None:
    """Another worker holds the user's lock for ``seconds``: the engine's next step for that user waits for it."""
    acct = account_id(svc.box, Channel.wechat.value, openid)
    assert svc.redis.set(keys.user_lock(acct), "another-worker", nx=True, px=int(seconds * 1000))


def fixed_replies(engine: Engine, monkeypatch: pytest.MonkeyPatch, *texts: str) -> list[Inbound]:
    """The engine's dialog step answers ``texts`` (claim, lock, save and the stored reply stay the engine's own)."""
    seen: list[Inbound] = []

    def process(inbound: Inbound, acct: str, session: Session, now: datetime, sent: int, *_: Any) -> list[str]:
        seen.append(inbound)
        return list(texts)

    monkeypatch.setattr(engine, "_process", process)
    return seen


# --- URL check ----------------------------------------------------------------------------------------------
def test_url_check(bot: Bot) -> None:
    ok = bot.platform.url_check("echo-7f3a")
    assert (ok.status, ok.body) == (200, b"echo-7f3a")
    assert bot.platform.url_check(forged=True).status == 403
    assert bot.platform.url_check(timestamp=int(time.time()) - 301).status == 403
    assert bot.platform.transport.request("GET", {"echostr": "x"}).status == 403


# --- conversations ------------------------------------------------------------------------------------------
def test_verification_and_booking_conversation(bot: Bot) -> None:
    platform, user = bot.platform, "o-patient-1"
    welcome = platform.event(user, "subscribe")
    assert "欢迎" in welcome and "1. 预约挂号" in welcome and "5. 帮助" in welcome
    assert "请输入就诊人姓名" in platform.send(user, "1")
    assert "身份证号" in platform.send(user, "张三")
    assert "手机号" in platform.send(user, id_number(1))
    assert "验证码已发送至 139****5678" in platform.send(user, PHONE)
    codes = [m["text"] for m in bot.services.outbox.messages_for(PHONE) if m["kind"] == "otp"]
    code = re.search(r"\d{6}", codes[-1])
    assert code is not None
    verified = platform.send(user, code.group())
    assert "手机号已验证;身份证号校验通过" in verified
    assert "请选择医院" in verified
    assert "内科" in platform.send(user, "1")
    assert "就诊日期" in platform.send(user, "内科")
    assert "请选择时段" in platform.send(user, "1")
    assert "请确认预约" in platform.send(user, "1")
    booked = platform.send(user, "Y")
    assert "预约成功" in booked
    serial = re.search(r"识别码 ?(\d{8})", booked)
    assert serial is not None
    mine = platform.event(user, "CLICK", "MY_APPOINTMENTS")
    assert serial.group(1) in mine


def test_menu_clicks(fbot: Bot) -> None:
    platform, user = fbot.platform, "o-clicker"
    assert "请输入就诊人姓名" in platform.event(user, "CLICK", "BOOK")
    assert "随时可回复" in platform.event(user, "CLICK", "HELP")
    assert "随时可回复" in platform.event(user, "CLICK", "MORE")
    assert platform.event(user, "CLICK", "MY_APPOINTMENTS")
    assert "随时可回复" in platform.event(user, "CLICK", "SOMETHING_NEW")


@pytest.mark.parametrize(
    ("event", "key", "command"),
    [
        ("CLICK", "BOOK", "book"),
        ("CLICK", "MY_APPOINTMENTS", "list"),
        ("CLICK", "MORE", "help"),
        ("CLICK", "HELP", "help"),
        ("subscribe", "", None),
    ],
)
def test_events_become_inbound(fbot: Bot, monkeypatch: pytest.MonkeyPatch, event: str, key: str, command: str) -> None:
    seen = fixed_replies(fbot.engine, monkeypatch, "ok")
    fbot.platform.reply_of(fbot.platform.post(event_xml("o-e", event, key, 1_700_000_000)))
    [inbound] = seen
    assert inbound.user == "o-e" and inbound.text == ""
    assert inbound.message_id == f"o-e:1700000000:{event.lower()}:{key}"  # wechatpy's name of the event
    assert inbound.command == command
    assert inbound.event == ("subscribe" if event == "subscribe" else None)


def test_text_inbound_carries_the_msg_id(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fixed_replies(fbot.engine, monkeypatch, "ok")
    assert fbot.platform.send("o-t", "你好", "6912345678901234567") == "ok"
    assert seen == [Inbound(Channel.wechat, "o-t", "你好", "6912345678901234567")]


def test_odd_fields_are_read_safely(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fixed_replies(fbot.engine, monkeypatch, "ok")
    nested = text_xml("o-odd", "x", "77").replace("<![CDATA[x]]>", "<b>nested</b>")
    assert fbot.platform.reply_of(fbot.platform.post(nested)) == "ok", "an element for a text: read as none, no 500"
    assert seen == [Inbound(Channel.wechat, "o-odd", "", "77")]
    for odd in (
        "not-a-number",
        "-5",
        "<b>1</b>",
    ):  # MsgId is WeChat's 64-bit message number: anything else is malformed
        assert fbot.platform.post(text_xml("o-odd", "x", odd)).status == 400, odd
    assert len(seen) == 1


def test_same_event_twice_is_one_step(fbot: Bot) -> None:
    first = fbot.platform.event("o-sub", "subscribe", create_time=1_700_000_001)
    again = fbot.platform.event("o-sub", "subscribe", create_time=1_700_000_001)
    assert first == again and "欢迎" in first
    assert steps_of(fbot.services, "o-sub") == 1


@pytest.mark.parametrize(
    ("msg_type", "extra"),
    [
        ("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"),
        ("voice", "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>"),
        ("video", "<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
        ("shortvideo", "<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
        (
            "location",
            "<Location_X>39.9</Location_X><Location_Y>116.3</Location_Y><Scale>15</Scale>"
            "<Label><![CDATA[北京]]></Label>",
        ),
        ("link", "<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[u]]></Url>"),
        ("miniprogrampage", "<Title><![CDATA[t]]></Title>"),
    ],
)
def test_non_text_messages_get_a_polite_answer(fbot: Bot, msg_type: str, extra: str) -> None:
    reply = fbot.platform.reply_of(fbot.platform.post(other_xml("o-pic", msg_type, extra)))
    assert reply == "目前只能处理文字消息。回复 菜单 查看可办理的业务。"


def test_recognised_voice_is_read_as_text(fbot: Bot) -> None:
    extra = "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>"
    extra += "<Recognition><![CDATA[菜单]]></Recognition>"
    assert "1. 预约挂号" in fbot.platform.reply_of(fbot.platform.post(other_xml("o-voice", "voice", extra)))


def test_unsubscribe_is_recorded_and_subscribe_clears_it(fbot: Bot) -> None:
    flag = keys.wechat_unsubscribed(account_id(fbot.services.box, "wechat", "o-leaver"))
    answer = fbot.platform.post(event_xml("o-leaver", "unsubscribe"))
    assert (answer.status, answer.body) == (200, b"success")
    assert fbot.services.redis.exists(flag)
    assert "欢迎" in fbot.platform.event("o-leaver", "subscribe")
    assert not fbot.services.redis.exists(flag)


@pytest.mark.parametrize("event", ["VIEW", "TEMPLATESENDJOBFINISH", "LOCATION", "view_miniprogram"])
def test_other_events_answer_success(fbot: Bot, event: str) -> None:
    answer = fbot.platform.post(event_xml("o-x", event, "http://example.com"))
    assert (answer.status, answer.body) == (200, b"success")


def test_no_reply_answers_success(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_replies(fbot.engine, monkeypatch)
    answer = fbot.platform.post(text_xml("o-quiet", "hi", "1"))
    assert (answer.status, answer.body) == (200, b"success")


def test_reply_text_survives_cdata_terminators(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_replies(fbot.engine, monkeypatch, "a]]>b<c>&d")
    assert fbot.platform.send("o-cdata", "x") == "a]]>b<c>&d"


# --- refusals -----------------------------------------------------------------------------------------------
def test_forged_signature_is_refused(bot: Bot) -> None:
    assert bot.platform.post(text_xml("o-f", "1", "11"), token="guessed-token").status == 403
    if bot.platform.safe:
        assert bot.platform.post(text_xml("o-f", "1", "12"), forge_msg_signature=True).status == 403
    assert steps_of(bot.services, "o-f") == 0


def test_each_document_is_parsed_once_by_one_parser(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = parse.xml_dict

    def spy(xml: str) -> Any:
        parsed.append(xml)
        return real(xml)

    monkeypatch.setattr(parse, "xml_dict", spy)
    monkeypatch.setattr(xmltodict, "parse", lambda *_, **__: pytest.fail("the webhook parses with xml_dict only"))
    answer = fbot.platform.post(text_xml("o-once", "菜单", fbot.platform.msg_id()))
    monkeypatch.undo()  # this test reads the reply with wechatpy (xmltodict)
    assert "1. 预约挂号" in fbot.platform.reply_of(answer)
    envelope = ["<Encrypt>" in xml for xml in parsed[:-1]]
    assert envelope == ([True] if fbot.platform.safe else []), "the envelope once, in safe mode"
    assert "<MsgType>" in parsed[-1], "then the message itself, once"


def test_signatures_are_compared_in_constant_time(fbot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the function adapters.wechat.webhook calls
    fbot.platform.send("o-ct", "菜单")
    assert len(compared) == (2 if fbot.platform.safe else 1)


@pytest.mark.parametrize("skew", [-301, 301, -(10**6)])
def test_stale_timestamp_is_refused(bot: Bot, skew: int) -> None:
    assert bot.platform.post(text_xml("o-s", "1", "21"), timestamp=int(time.time()) + skew).status == 403


def test_timestamp_is_checked_against_the_real_clock(fbot: Bot) -> None:
    clock = fbot.services.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime.fromtimestamp(time.time(), SHANGHAI) + timedelta(days=3))  # the simulator moved time on
    simulated = int(clock.now().timestamp())
    assert fbot.platform.post(text_xml("o-s", "1", "22"), timestamp=simulated).status == 403
    assert fbot.platform.post(text_xml("o-s", "1", "23"), timestamp=int(time.time()) - 290).status == 200


@pytest.mark.parametrize(
    "xml",
    [
        b"not xml at all",
        b"<xml><ToUserName>a</ToUserName>",
        b"<xml><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
        b"<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType></xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime></xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime>"
        b"<MsgType>text</MsgType></xml>",
        b"<other><ToUserName>a</ToUserName></other>",
        b"<xml>\xff\xfe</xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>text</MsgType><Content>&undefined;</Content></xml>",
        b"",
    ],
    ids=[
        "text",
        "unclosed",
        "no-to",
        "no-from",
        "no-time",
        "no-type",
        "bad-time",
        "root",
        "not-utf8",
        "entity",
        "empty",
    ],
)
def test_malformed_xml_is_400(bot: Bot, xml: bytes) -> None:
    if bot.platform.safe and not xml.startswith(b"<xml>\xff"):
        assert bot.platform.post(xml).status == 400, "signed and decryptable, but not a message"
    assert bot.platform.post(xml, encrypt=False).status == (403 if bot.platform.safe else 400)


@pytest.mark.parametrize("safe", [True], ids=["safe"])
def test_malformed_envelope_or_undecryptable_is_400(fbot: Bot) -> None:
    transport, ts, nonce = fbot.platform.transport, str(int(time.time())), "nonce-x"
    garbage = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCEhISE="  # base64, not a ciphertext of ours
    for body, encrypted in [
        (b"<xml><Encrypt>", "x"),
        (b"<xml><ToUserName>a</ToUserName></xml>", ""),
        (f"<xml><Encrypt>{garbage}</Encrypt></xml>".encode(), garbage),
        (b"<xml><Encrypt>@@@</Encrypt></xml>", "@@@"),
    ]:
        query = {
            "signature": signature(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": signature(TOKEN, ts, nonce, encrypted),
        }
        assert transport.request("POST", query, body).status == 400, body
    other_app = WeChatCrypto(TOKEN, AES_KEY, "wx-another-app")  # right key, someone else's app id
    envelope = fields(other_app.encrypt_message(text_xml("o", "1", "1"), nonce, ts))
    query = {
        "signature": signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": envelope["MsgSignature"],
    }
    body = f"<xml><Encrypt>{envelope['Encrypt']}</Encrypt></xml>".encode()
    assert transport.request("POST", query, body).status == 400


@pytest.mark.parametrize("safe", [True], ids=["safe"])
def test_safe_mode_refuses_plain_messages(fbot: Bot) -> None:
    assert fbot.platform.post(text_xml("o", "1", "31"), encrypt=False).status == 403


@pytest.mark.parametrize("safe", [False], ids=["plain"])
def test_plain_mode_cannot_read_encrypted_messages(fbot: Bot) -> None:
    assert fbot.platform.post(text_xml("o", "1", "32"), encrypt=True).status == 400


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_dtd_payloads_are_refused_fast(bot: Bot, payload: str) -> None:
    started = time.perf_counter()
    answer = bot.platform.post(payload)
    assert answer.status == 400
    assert time.perf_counter() - started < 1.0
    if bot.platform.safe:  # the same payload outside the envelope: refused before anything else
        assert bot.platform.post(payload.replace("<xml>", "<xml><Encrypt>x</Encrypt>"), encrypt=False).status in (
            400,
            403,
        )


def test_oversized_body_is_413(bot: Bot) -> None:
    xml = text_xml("o-big", "1", "41")
    exactly = xml + " " * (MAX_BODY_BYTES - len(xml.encode()))  # whitespace after the root is allowed
    if not bot.platform.safe:
        assert bot.platform.post(exactly).status == 200
    assert bot.platform.post(xml + " " * (MAX_BODY_BYTES + 1), encrypt=False).status == 413
    assert bot.platform.post("<xml>" + "x" * 200_000 + "</xml>").status == 413


def test_oversized_chunked_body_is_413(svc: Services) -> None:
    """No Content-Length: the limit holds on what is actually read."""
    with running_bot(svc, False, "http") as running:
        assert isinstance(running.platform.transport, HttpTransport)
        port = int(running.platform.transport.base.rsplit(":", 1)[1])
        ts, nonce = str(int(time.time())), "nonce-chunked"
        query = urllib.parse.urlencode({"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce})
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        chunks = iter([b"<xml>" + b" " * 40_000] * 3)
        connection.request("POST", f"/wechat?{query}", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        connection.close()


def test_channel_off_is_404(svc: Services) -> None:
    app = Flask(__name__)
    services = webhook_services(svc, build_engine(svc))
    app.register_blueprint(wechat_blueprint(services, wechat_config(False, token=""), lambda o, t: None))
    platform = Platform(FlaskTransport(app), False)
    assert platform.url_check().status == 404
    assert platform.post(text_xml("o", "1", "1"), token="").status == 404


# --- retries and the 5-second limit -------------------------------------------------------------------------
def test_same_msg_id_three_times_concurrently_is_one_step(bot: Bot) -> None:
    hold_user_lock(bot.services, "o-retry", 0.3)  # the first delivery's step takes a while
    xml = text_xml("o-retry", "菜单", "7000000000000000001")
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(bot.platform.reply_of(bot.platform.post(xml)))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert steps_of(bot.services, "o-retry") == 1
    assert len(answers) == 3 and len(set(answers)) == 1 and "1. 预约挂号" in answers[0]
    assert bot.handed == []


def test_a_step_that_cannot_answer_in_time_answers_success_and_the_worker_pushes_it(svc: Services, safe: bool) -> None:
    with running_bot(svc, safe, "flask", reply_deadline=0.6) as running:
        hold_user_lock(svc, "o-slow", 1.0)  # another worker holds the user past this request's deadline
        started = time.monotonic()
        answer = running.platform.post(text_xml("o-slow", "菜单", "7100"))
        assert (answer.status, answer.body) == (200, b"success")
        assert time.monotonic() - started < 1.0, "answered by the deadline, not after the lock"
        assert running.pushed("o-slow") == []
        running.work()  # the job waits for the lock, runs the step and pushes its reply
        [pushed] = running.pushed("o-slow")
        assert "1. 预约挂号" in pushed
        assert steps_of(svc, "o-slow") == 1


def test_retries_of_a_late_message_push_its_reply_once(svc: Services, safe: bool) -> None:
    with running_bot(svc, safe, "flask", reply_deadline=0.2) as running:
        hold_user_lock(svc, "o-late", 0.6)  # the step outlasts the reply deadline
        xml = text_xml("o-late", "菜单", "7200")
        assert running.platform.post(xml).body == b"success"  # too slow: answered success
        assert running.platform.post(xml).body == b"success"  # WeChat's retry: the worker has it
        running.work()
        assert running.platform.post(xml).body == b"success"  # a retry after the push: not answered again
        running.work()
        assert steps_of(svc, "o-late") == 1
        assert len(running.handed) == 1, "handed over by the delivery that gave up, not by its retries"
        [pushed] = running.pushed("o-late")
        assert "1. 预约挂号" in pushed


def test_a_handed_over_job_run_twice_steps_and_pushes_once(svc: Services) -> None:
    """RQ may run a job again (a worker killed after the push, a retry): the step runs once, the push goes once."""
    with running_bot(svc, False, "flask", reply_deadline=0.2) as running:
        hold_user_lock(svc, "o-twice", 0.4)
        assert running.platform.post(text_xml("o-twice", "菜单", "7250")).body == b"success"
        [(inbound, answered)] = running.handed
        LateReplies(svc.redis, svc.box)(inbound, answered)  # the same job a second time
        running.work()
        assert steps_of(svc, "o-twice") == 1
        assert len(running.pushed("o-twice")) == 1


def test_a_step_that_ends_after_the_deadline_is_pushed_not_answered(
    svc: Services, safe: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock came in time but the step itself ran past the deadline: WeChat has stopped listening, so the reply
    is stored for the worker to push, and the late answer is ``success``."""
    with running_bot(svc, safe, "flask", reply_deadline=0.2) as running:
        real = running.engine._process

        def slow(*args: Any) -> list[str]:
            time.sleep(0.3)
            return real(*args)

        monkeypatch.setattr(running.engine, "_process", slow)
        xml = text_xml("o-overrun", "菜单", "7260")
        assert running.platform.post(xml).body == b"success"
        assert running.platform.post(xml).body == b"success", "a retry does not answer what the worker pushes"
        running.work()
        [pushed] = running.pushed("o-overrun")
        assert "1. 预约挂号" in pushed
        assert steps_of(svc, "o-overrun") == 1


# --- long replies -------------------------------------------------------------------------------------------
def test_long_replies_are_split_at_2048_bytes(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    paragraphs = ["甲" * 500, "乙" * 500, "丙" * 100]  # 1,500 + 1,500 + 300 bytes
    fixed_replies(bot.engine, monkeypatch, *paragraphs)
    xml = text_xml("o-long", "1", "7300")
    passive = bot.platform.reply_of(bot.platform.post(xml))
    assert passive == "甲" * 500
    bot.work()
    assert bot.pushed("o-long") == ["乙" * 500 + "\n\n" + "丙" * 100]
    assert bot.platform.reply_of(bot.platform.post(xml)) == passive  # a retry: same passive reply...
    bot.work()
    assert len(bot.pushed("o-long")) == 1  # ...and the rest is not pushed twice
    assert [answered for _, answered in bot.handed] == [1]


def test_split_reply_cases() -> None:
    assert split_reply([]) == []
    assert split_reply(["a", "b"]) == ["a\n\nb"]
    exact = "x" * 2046
    assert split_reply([exact, ""]) == [exact]
    assert split_reply(["x" * 2048, "y"]) == ["x" * 2048, "y"]
    assert split_reply(["x" * 2047, "y"]) == ["x" * 2047, "y"]
    lines = "\n".join(["行" * 100] * 10)  # 10 lines of 300 bytes
    assert split_reply([lines]) == ["\n".join(["行" * 100] * 6), "\n".join(["行" * 100] * 4)]
    assert split_reply(["字" * 1000]) == ["字" * 682, "字" * 318]  # 3 bytes each, cut between characters


@given(st.lists(st.text(alphabet=st.sampled_from("ab字\n😀"), max_size=1500), max_size=6))
def test_split_reply_keeps_everything_within_the_limit(paragraphs: list[str]) -> None:
    messages = split_reply(paragraphs, limit=200)
    assert all(len(m.encode("utf-8")) <= 200 for m in messages)
    squeeze: Callable[[str], str] = lambda s: re.sub(r"\s", "", s)  # noqa: E731
    assert squeeze("".join(messages)) == squeeze("".join(paragraphs))


# --- bad timestamps and a Redis outage (SPEC §7) -------------------------------------------------------------
NOT_A_TIME = ["9" * 400, "-5", "", "12ab", "１７００００００００", "١٧٠٠٠٠٠٠٠٠", " 1700000000", "1e9"]


@pytest.mark.parametrize("timestamp", NOT_A_TIME)
def test_a_signed_request_with_a_timestamp_that_is_no_time_is_403(fbot: Bot, timestamp: str) -> None:
    nonce = "nonce-t"
    query = {"signature": signature(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    assert fbot.platform.transport.request("POST", query, text_xml("o-t", "1", "41").encode()).status == 403
    assert fbot.platform.transport.request("GET", query | {"echostr": "e"}).status == 403


def test_a_message_while_redis_is_down_gets_the_busy_text_as_its_reply(safe: bool, tmp_path: Any) -> None:
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    client = server.client()
    services = make_services(client)
    with running_bot(services, safe, "flask") as running:
        assert "预约挂号" in running.platform.send("o-down", "菜单")
        server.kill()
        for content in ("菜单", "1"):
            answer = running.platform.post(text_xml("o-down", content, running.platform.msg_id()))
            assert running.platform.reply_of(answer) == "系统繁忙,请稍后再试。"  # decrypted in safe mode
        event = running.platform.post(event_xml("o-down", "subscribe", create_time=int(time.time())))
        assert running.platform.reply_of(event) == "系统繁忙,请稍后再试。"
    client.close()
