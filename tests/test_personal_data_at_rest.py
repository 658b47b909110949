"""Must show (issue 11): a scripted life of two patients — verified and booked over WeChat and over SMS, an ID
number typed at the menu and phones typed mid-booking, a broadcast run to its end, reminders sent as the clock
moves — leaves no ID number, no phone (in any form) and no name in clear anywhere: not in any Redis key or value
(RQ's compressed job data included), not in the append-only file, not in the log.
"""

from __future__ import annotations

import copy
import io
import itertools
import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from wechatpy import parse_message
from wechatpy.utils import WeChatSigner

from adapters.sms.webhook import SmsInbox, sms_blueprint
from app.logs import JsonFormatter
from app.services import build_engine
from app.web import create_app
from bot.archive import Archive
from bot.clock import RedisClock
from bot.config import build_config
from bot.patients import account_id
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.dialog_support import Chat
from tests.pii_scan import aof_arguments, assert_no_pii, assert_no_pii_in_bytes
from tests.support import CONFIG_RAW, NOW, STAFF_TOKEN, Services, make_services, schedule_csv
from texts import CATALOG, LANGUAGES, text

WECHAT_TOKEN = "guahao-wechat-token"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
PUBLIC_URL = "https://guahao.example.org"
ACCOUNT = "gh_0123456789ab"
OPENID = "o-pii-wechat-user"

# the people of this story (valid ID numbers; the names occur nowhere else in the code base)
WANG, WANG_ID, WANG_PHONE = "王小明", "110105194912311233", "13812345678"
LI, LI_ID, LI_PHONE = "李秀英", "11010519800101018X", "13987654321"
SECRETS = [WANG, WANG_ID, WANG_PHONE, LI, LI_ID, LI_PHONE]
# the forms typed below, besides those ``pii_scan`` derives from the secrets
TYPED_FORMS = ["+86 138-1234-5678", "１３８１２３４５６７８", "138 1234 5678", "11010519800101018x"]

_ids = itertools.count(10**17)


def config_raw() -> dict[str, Any]:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["server"] = {"public_url": PUBLIC_URL, "simulator": True}
    raw["wechat"] = {"app_id": "wx0123456789abcdef", "app_secret": "s", "token": WECHAT_TOKEN, "push": "console"}
    raw["sms"] = {"provider": "console", "auth_token": TWILIO_TOKEN}
    return raw


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of its own with appendonly yes, fsync always: every write is in the AOF when we read it."""
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True, appendfsync="always")
    yield server
    server.stop()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every log line of the run, as the production formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything any library would say, not only what production shows
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


class World:
    """The deployment under test: its Flask app (WeChat, SMS, staff API, simulator) over one durable Redis."""

    def __init__(self, services: Services) -> None:
        self.services = services
        app: Flask = create_app(services)
        if "sms" not in app.blueprints:  # the Twilio webhook with a console sender (SPEC §7: on with auth_token)
            app.register_blueprint(
                sms_blueprint(
                    build_engine(services),
                    patients=services.patients,
                    box=services.box,
                    redis_client=services.redis,
                    clock=services.clock,
                    config=services.config,
                )
            )
        self.http: FlaskClient = app.test_client()

    # --- WeChat, signed as WeChat signs ----------------------------------------------------------------------
    def wechat(self, content: str) -> str:
        ts, nonce = str(int(time.time())), f"n{next(_ids)}"
        signer = WeChatSigner()
        signer.add_data(WECHAT_TOKEN, ts, nonce)
        xml = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{next(_ids)}</MsgId></xml>"
        )
        query = f"signature={signer.signature}&timestamp={ts}&nonce={nonce}&openid={OPENID}"
        answer = self.http.post(f"/wechat?{query}", data=xml.encode(), content_type="text/xml")
        assert answer.status_code == 200, answer.data
        body = answer.get_data()
        return "" if body in (b"success", b"") else str(parse_message(body.decode()).content)

    # --- SMS, signed with twilio's RequestValidator -----------------------------------------------------------
    def sms(self, phone: str, body: str) -> str:
        params = {
            "MessageSid": f"SM{next(_ids):032x}",
            "AccountSid": "AC" + "0" * 32,
            "From": phone,
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/sms/twilio", params)
        answer = self.http.post("/sms/twilio", data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200, answer.data
        return "\n\n".join(re.findall(r"<Message>(.*?)</Message>", answer.get_data(as_text=True), re.S))

    # --- the simulator --------------------------------------------------------------------------------------
    def outbox(self, to: str) -> list[dict[str, str]]:
        answer = self.http.get(f"/simulator/outbox?to={to}")
        assert answer.status_code == 200
        messages: list[dict[str, str]] = answer.json["messages"]  # type: ignore[index]
        return messages

    def code(self, phone: str) -> str:
        texts = [m["text"] for m in self.outbox(phone) if m["kind"] == "otp"]
        found = re.search(r"\d{6}", texts[-1])
        assert found is not None
        return found.group()

    def set_clock(self, moment: str) -> None:
        answer = self.http.post("/simulator/clock", json={"set": moment})
        assert answer.status_code == 200, answer.json


@pytest.fixture
def world(durable: EmbeddedRedis) -> Iterator[World]:
    client = durable.client()
    services = make_services(client, build_config(config_raw()), RedisClock(client))
    assert isinstance(services.clock, RedisClock)
    services.clock.set(NOW)
    services.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1)))
    yield World(services)
    client.close()


def aof_bytes(server: EmbeddedRedis) -> bytes:
    assert server.data_dir is not None
    files = [p for p in server.data_dir.rglob("*") if p.is_file() and ".aof" in p.name]
    assert files, "no append-only file written"
    return b"".join(p.read_bytes() for p in files)


def test_a_whole_story_leaves_no_personal_data_in_clear(
    world: World, durable: EmbeddedRedis, log_output: io.StringIO, tmp_path: Path
) -> None:
    transcript: list[tuple[str, str]] = []

    def wechat(typed: str) -> str:
        reply = world.wechat(typed)
        transcript.append((typed, reply))
        return reply

    def sms(typed: str) -> str:
        reply = world.sms(LI_PHONE, typed)
        transcript.append((typed, reply))
        return reply

    # WeChat: verified (the questions name the patient, masked), booked
    assert "王**" in wechat("1") + wechat(WANG)
    wechat(WANG_ID)
    assert "验证码" in wechat(TYPED_FORMS[0])
    assert "手机号已验证;身份证号校验通过" in wechat(world.code(WANG_PHONE))
    for _ in range(8):  # hospital, department, date, slot, confirmation: the first of each
        if "预约成功" in wechat("Y" if "回复 Y 确认" in transcript[-1][1] else "1"):  # Y/N is never a number
            break
    assert "预约成功" in transcript[-1][1], transcript
    # ... then the ID number typed at the menu, phones typed mid-booking (each echoed back as not understood)
    assert "110105********1233" in wechat(WANG_ID)
    assert "138****5678" in wechat(f"我的手机+86{WANG_PHONE}")
    wechat("1")  # 预约挂号: the hospital question
    assert "138****5678" in wechat(TYPED_FORMS[0])
    wechat("1")
    wechat("1")  # the date question
    assert "138****5678" in wechat(TYPED_FORMS[1])
    wechat("菜单")

    # SMS: an unknown phone verified by the channel, booked, then the same mistakes
    assert "姓名" in sms("预约")
    sms(LI)
    sms(TYPED_FORMS[3])
    for _ in range(8):
        if "预约成功" in sms("Y" if "回复 Y 确认" in transcript[-1][1] else "1"):
            break
    assert "预约成功" in transcript[-1][1], transcript
    assert "110105********018X" in sms(LI_ID)
    sms("预约")
    assert "139****4321" in sms("8613987654321")
    assert "139****4321" in sms("139 8765 4321")
    sms("菜单")

    # a broadcast about the day both are booked on, run to its end by the worker the simulator runs
    auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    day = (NOW.date() + timedelta(days=1)).isoformat()
    created = world.http.post(
        "/api/staff/broadcasts",
        headers=auth,
        json={"hospital": "h1", "date": day, "text": f"内科今日顺延半小时,{WANG}请到二楼"},
    )
    assert created.status_code == 202, created.json
    world.set_clock((NOW + timedelta(minutes=1)).isoformat())
    progress = world.http.get(f"/api/staff/broadcasts/{created.json['id']}", headers=auth).json  # type: ignore[index]
    assert progress["status"] == "done" and progress["sent"] == 2, progress  # type: ignore[index]

    # reminders: the clock moved past each reminder of both appointments, the due work run each time
    for moment in ("2026-11-23T13:30:00+08:00", "2026-11-23T18:30:00+08:00", "2026-11-24T06:30:00+08:00"):
        world.set_clock(moment)
    for to in (OPENID, LI_PHONE):
        kinds = [m["kind"] for m in world.outbox(to)]
        assert kinds.count("reminder") >= 2 and "broadcast" in kinds, kinds
        # booked by SMS, the reply was the confirmation: pushed only on WeChat
        assert ("confirmation" in kinds) == (to == OPENID), kinds
    assert any("王*" in m["text"] for m in world.outbox(OPENID)), "the simulator shows the outbox in clear"

    # nothing the patients read echoes a number in full...
    replies = "\n".join(reply for _, reply in transcript)
    assert_no_pii_in_bytes(replies.encode(), [WANG_ID, WANG_PHONE, LI_ID, LI_PHONE, *TYPED_FORMS], "the replies")
    # ... and nothing stored or logged holds any personal data in clear
    assert_no_pii(durable.client(), SECRETS + TYPED_FORMS)
    aof = aof_bytes(durable)
    assert b"dr-nk" in aof and b"rq:job:reminder-" in aof, "the append-only file holds the story"
    assert_no_pii_in_bytes(aof, SECRETS + TYPED_FORMS, "the append-only file")
    assert_no_pii_in_bytes(aof_arguments(aof), SECRETS + TYPED_FORMS, "the append-only file's values")
    # the story ages into the archive files (bot.archive): they hold no personal data in clear either
    services = world.services
    assert isinstance(services.clock, RedisClock)
    services.clock.set(NOW + timedelta(days=200))
    services.standing.sweep_no_shows()
    moved = Archive(services.redis, services.config, services.clock, tmp_path / "archive").run()
    assert moved.appointments == 2 and moved.audit > 0, moved
    archived = [p.read_bytes() for p in sorted((tmp_path / "archive").rglob("*.jsonl"))]
    assert_no_pii_in_bytes(archived, SECRETS + TYPED_FORMS, "the archive files")
    assert_no_pii(durable.client(), SECRETS + TYPED_FORMS)
    logged = log_output.getvalue()
    assert "broadcast created" in logged, "the log was captured"
    assert_no_pii_in_bytes(logged.encode(), SECRETS + TYPED_FORMS, "the log")


# --- each store, one at a time (on the shared test server) ----------------------------------------------------------
def test_the_reply_kept_for_retries_is_encrypted_and_still_answers_the_retry(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    first = chat.send(WANG, message_id="msg-7")
    assert "请输入王**的18位居民身份证号" in first and WANG not in first  # the name shown masked
    seen = keys.inbound_seen("wechat", f"{account_id(svc.box, 'wechat', chat.user)}:msg-7")
    stored = svc.redis.get(seen)
    assert stored is not None and stored.startswith(b"v1:") and WANG.encode() not in stored
    assert chat.send(WANG, message_id="msg-7") == first, "a platform retry gets the first reply, decrypted"
    svc.redis.set(seen, svc.box.encrypt('["forged"]', context="reply:another-key"))
    assert chat.send(WANG, message_id="msg-7") == "", "a reply moved from another message does not open here"


def test_session_data_is_one_sealed_blob_bound_to_its_account(svc: Services) -> None:
    chat = Chat(svc)
    chat.send("1")
    chat.send(WANG)  # mid-verification: the name is remembered until the code is confirmed
    session = keys.session(account_id(svc.box, "wechat", chat.user))
    data = svc.redis.hget(session, "data")
    assert data is not None and data.startswith(b"v1:")
    assert_no_pii(svc.redis, [WANG])
    other = Chat(svc, user="openid-other")
    other.send("1")
    svc.redis.hset(keys.session(account_id(svc.box, "wechat", other.user)), "data", data)
    assert "系统已更新" in other.send(WANG_ID), "another account's data does not open: start over, not a crash"
    assert "请输入就诊人的手机号" in chat.send(WANG_ID), "its own account carries on"


def test_the_sms_adapter_keeps_its_replies_encrypted(svc: Services) -> None:
    inbox = SmsInbox(build_engine(svc), svc.patients, svc.box, svc.redis)
    first = inbox.handle("+8613812345678", "TD", "SMtd0001")
    stored = svc.redis.get(keys.sms_seen("SMtd0001"))
    assert stored is not None and stored.startswith(b"v1:")
    assert inbox.handle("+8613812345678", "TD", "SMtd0001") == first and "已退订" in first[0]


@pytest.mark.parametrize(
    "typed",
    ["110105194912311233", "11010519800101018x", "+86 138-1234-5678", "１３８１２３４５６７８", "8613812345678"],
)
def test_every_dialog_that_quotes_a_message_masks_it(svc: Services, typed: str) -> None:
    _, patient = svc.patient(1, user="openid-a")
    svc.patients.set_active(account_id(svc.box, "wechat", "openid-a"), patient.pid)
    chat = Chat(svc)
    steps = {
        "menu": [],
        "book: department": ["1", "1"],
        "book: date": ["1", "1", "1"],
        "cancel: which": ["菜单", "3"],
        "patients: which": ["菜单", "4"],
    }
    for name, before in steps.items():
        chat.send("菜单")
        for typed_before in before:
            chat.send(typed_before)
        reply = chat.send(typed)
        assert "****" in reply, (name, reply)  # quoted back, masked
        assert_no_pii_in_bytes(reply.encode(), [WANG_ID, WANG_PHONE, LI_ID, typed], name)


@pytest.mark.parametrize("key", sorted(k for k, (zh, _) in CATALOG.items() if "{text}" in zh))
def test_the_placeholder_that_quotes_the_user_is_masked_whoever_fills_it(key: str) -> None:
    for language in LANGUAGES:
        others = {"candidates": "", "day": "", "department": "", "serial": ""}
        shown = text(language, key, text=f"{WANG_ID} +86 138-1234-5678", **others)
        assert "110105********1233" in shown and "138****5678" in shown, shown
