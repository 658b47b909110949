"""The webhooks under the 5-second rule, through the app as it is wired (``create_app``) on a real redis-server:

- a WeChat step stalled behind the user's lock (held by the test, as another process's step would) still gets its
  200 within 5 s, and its reply comes later, once: a real RQ job run by guahao's worker pushes it through wechatpy
  to a local stand-in of the WeChat API, whatever WeChat's retries and a second run of the job;
- the same for Twilio, the reply sent as an SMS through the twilio SDK to a stand-in of Twilio's API;
- one step costs the engine's two Redis round trips and nothing more (counted with MONITOR on the server).
"""

from __future__ import annotations

import copy
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq.registry import FinishedJobRegistry
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto

from adapters.sms.webhook import sms_blueprint
from app.late_replies import LateReplies
from app.services import build_engine
from app.web import REDIS_SOCKET_TIMEOUT_S, create_app
from app.worker import run_worker
from bot.config import build_config
from bot.patients import account_id
from bot.reminders import job_queue
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from tests.pii_scan import assert_no_pii
from tests.support import CONFIG_RAW, Services, id_number, make_services
from tests.test_wechat import AES_KEY, TOKEN, FlaskTransport, Platform, hold_user_lock, steps_of, text_xml
from tests.twilio_standin import TwilioStandIn
from tests.wechat_standin import APP_ID, APP_SECRET, WeChatStandin, running_standin

CUSTOM = "/cgi-bin/message/custom/send"
PUBLIC_URL = "https://guahao.example.org"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-for-deadlines"
TWILIO_FROM = "+15005550006"
WECHAT_BUDGET_S = 5.0
_sids = itertools.count(1)


def config_raw(wechat_api: str, twilio_api: str) -> dict[str, Any]:
    """Both channels on, in safe mode, their APIs the local stand-ins."""
    raw = copy.deepcopy(CONFIG_RAW)
    raw["server"] = {"public_url": PUBLIC_URL}
    raw["policy"] = {"rate_limit_per_minute": 1000}
    raw["wechat"] = {
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "api_base_url": wechat_api,
    }
    raw["sms"] = {
        "provider": "twilio",
        "account_sid": TWILIO_SID,
        "auth_token": TWILIO_TOKEN,
        "from_number": TWILIO_FROM,
        "api_base_url": twilio_api,
    }
    return raw


@dataclass
class Deployment:
    """The app as deployed (create_app over wired services), WeChat's and Twilio's sides, and their API stand-ins."""

    services: Services
    app: Flask
    wechat: Platform
    wechat_api: WeChatStandin
    twilio_api: TwilioStandIn

    def work(self) -> None:
        """guahao's worker, until its queue is empty: the handed-over jobs really run."""
        run_worker(self.services, burst=True)

    def sms(self, phone: str, body: str, sid: str | None = None) -> tuple[int, str]:
        """Twilio's inbound webhook request, signed with twilio's own validator: (status, TwiML)."""
        form = {"From": phone, "To": TWILIO_FROM, "Body": body, "MessageSid": sid or f"SM{next(_sids):032x}"}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/sms/twilio", form)
        response = self.app.test_client().post("/sms/twilio", data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def deployment(redis_db: redis.Redis) -> Iterator[Deployment]:
    with running_standin() as wechat_api, TwilioStandIn(TWILIO_SID, TWILIO_TOKEN) as twilio_api:
        services = make_services(redis_db, build_config(config_raw(wechat_api.base_url, twilio_api.base_url)))
        app = create_app(services, expect_worker=False)
        platform = Platform(FlaskTransport(app), safe=True)
        platform.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)  # the account's app id, which the stand-in knows
        yield Deployment(services, app, platform, wechat_api, twilio_api)


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


# --- must show: a stalled step is answered in time, its reply pushed later, once -----------------------------
def test_a_stalled_wechat_step_gets_200_within_5_s_and_its_reply_later_once(deployment: Deployment) -> None:
    platform, api, user = deployment.wechat, deployment.wechat_api, "o-stalled"
    hold_user_lock(deployment.services, user, 4.5)  # another process's step holds this user past the deadline
    xml = text_xml(user, "菜单", platform.msg_id())
    answer, elapsed = timed(lambda: platform.post(xml))
    assert (answer.status, answer.body) == (200, b"success")
    assert elapsed < WECHAT_BUDGET_S, f"answered after {elapsed:.2f} s"
    retry, elapsed = timed(lambda: platform.post(xml))  # WeChat's retry of the same MsgId
    assert (retry.status, retry.body) == (200, b"success"), "the worker has it: a retry answers nothing"
    assert elapsed < 1.0
    assert api.calls(CUSTOM) == [], "nothing pushed before the worker runs"
    deployment.work()  # the job waits for the lock to go, runs the step, pushes the reply
    [pushed] = api.calls(CUSTOM)
    assert pushed.body is not None and pushed.body["touser"] == user and pushed.body["msgtype"] == "text"
    assert "1. 预约挂号" in pushed.body["text"]["content"]
    assert platform.post(xml).body == b"success"  # a retry after the push: not answered either
    deployment.work()
    assert len(api.calls(CUSTOM)) == 1 and steps_of(deployment.services, user) == 1


def test_a_handed_over_wechat_job_run_again_pushes_nothing_more(deployment: Deployment) -> None:
    platform, user = deployment.wechat, "o-rerun"
    hold_user_lock(deployment.services, user, 4.0)
    assert platform.post(text_xml(user, "菜单", platform.msg_id())).body == b"success"
    deployment.work()
    [job] = _finished_jobs(deployment.services.redis)
    job_queue(deployment.services.redis).enqueue(job.func_name, *job.args)  # the same job again (a worker killed
    deployment.work()  # after the push, before RQ recorded it done)
    assert len(deployment.wechat_api.calls(CUSTOM)) == 1 and steps_of(deployment.services, user) == 1


def _finished_jobs(client: redis.Redis) -> list[Any]:
    queue = job_queue(client)
    registry = FinishedJobRegistry(queue=queue)
    return [queue.fetch_job(job_id) for job_id in registry.get_job_ids()]


def test_a_stalled_sms_step_gets_an_empty_twiml_and_its_reply_by_sms_once(deployment: Deployment) -> None:
    services, phone = deployment.services, "+8613912340001"
    engine = build_engine(services)
    deployment.app = sms_app(services, engine, reply_deadline=1.0)  # Twilio's 15 s, shortened for the test
    _hold(services, Channel.sms, phone, 1.5)
    sid = f"SM{next(_sids):032x}"
    (status, twiml), elapsed = timed(lambda: deployment.sms(phone, "帮助", sid))
    assert status == 200 and "<Message>" not in twiml and elapsed < 1.5
    assert deployment.sms(phone, "帮助", sid) == (200, twiml), "Twilio's retry: nothing answered either"
    deployment.work()
    sent = deployment.twilio_api.messages()  # the reply packed as SMS are (two segments each at most)
    assert [m.form["To"] for m in sent] == [phone, phone]
    assert "随时可回复" in sent[0].form["Body"] and "1. 预约挂号" in sent[1].form["Body"]
    deployment.work()
    assert len(deployment.twilio_api.messages()) == 2


def sms_app(services: Services, engine: Engine, *, reply_deadline: float) -> Flask:
    """The SMS webhook as create_app wires it, with a reply deadline short enough for a test."""
    app = Flask("sms-deadline")
    app.register_blueprint(
        sms_blueprint(
            engine,
            patients=services.patients,
            box=services.box,
            redis_client=services.redis,
            clock=services.clock,
            config=services.config,
            hand_off=LateReplies(services.redis, services.box),
            reply_deadline=reply_deadline,
        )
    )
    return app


def _hold(services: Services, channel: Channel, user: str, seconds: float) -> None:
    acct = account_id(services.box, channel.value, user)
    assert services.redis.set(keys.user_lock(acct), "another-worker", nx=True, px=int(seconds * 1000))


# --- round trips -------------------------------------------------------------------------------------------
class Monitor:
    """The commands clients send to the server while a block runs (MONITOR), without the scripts' own."""

    def __init__(self, server: EmbeddedRedis) -> None:
        self._client = server.client(decode_responses=True)
        self.commands: list[str] = []
        self._started = threading.Event()

    def __enter__(self) -> Monitor:
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        while not self._started.is_set():
            self._client.echo("monitor-start")  # until the monitor has seen one: it is listening
            self._started.wait(0.05)
        self.commands.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.echo("monitor-end")
        self._thread.join(timeout=10)
        self._client.close()

    def _listen(self) -> None:
        with self._client.monitor() as monitor:
            for seen in monitor.listen():
                command = str(seen["command"])
                if command == "ECHO monitor-start":
                    self._started.set()
                    continue
                if command == "ECHO monitor-end":
                    return
                if self._started.is_set() and seen["client_type"] != "lua":
                    self.commands.append(command.split(" ", 1)[0].upper())


@pytest.mark.parametrize("who", ["new user", "verified patient"])
def test_a_wechat_step_is_the_engines_two_round_trips(
    deployment: Deployment, redis_server: EmbeddedRedis, who: str
) -> None:
    platform, user = deployment.wechat, f"o-count-{who.replace(' ', '-')}"
    if who == "verified patient":
        deployment.services.patient(7, channel="wechat", user=user)
        platform.send(user, "菜单")  # the session exists, the scripts are loaded
    else:
        platform.send("o-warm", "菜单")  # the scripts are loaded; this user is new
    with Monitor(redis_server) as monitor:
        reply = platform.send(user, "菜单")
    assert "1. 预约挂号" in reply
    assert monitor.commands == ["EVALSHA", "EVALSHA"], monitor.commands


def test_an_sms_step_is_the_engines_two_round_trips(deployment: Deployment, redis_server: EmbeddedRedis) -> None:
    phone = "+8613912340002"
    deployment.sms(phone, "帮助")
    with Monitor(redis_server) as monitor:
        status, twiml = deployment.sms(phone, "帮助")
    assert status == 200 and "随时可回复" in twiml
    assert monitor.commands == ["EVALSHA", "EVALSHA"], monitor.commands


def test_a_retry_is_one_round_trip(deployment: Deployment, redis_server: EmbeddedRedis) -> None:
    platform, xml = deployment.wechat, text_xml("o-count-retry", "菜单", "8000")
    first = platform.reply_of(platform.post(xml))
    with Monitor(redis_server) as monitor:
        assert platform.reply_of(platform.post(xml)) == first
    assert monitor.commands == ["EVALSHA"], monitor.commands


def test_handle_still_waits_for_the_lock_without_a_hand_off(deployment: Deployment) -> None:
    """Callers that cannot push later (console, simulator) keep waiting for the lock (up to LOCK_WAIT_S)."""
    engine: Engine = build_engine(deployment.services)
    _hold(deployment.services, Channel.console, "c-1", 0.5)
    replies, elapsed = timed(lambda: engine.handle(Inbound(Channel.console, "c-1", "菜单", "c-msg-1")))
    assert "1. 预约挂号" in replies[0].text and elapsed >= 0.4


def test_a_handed_over_message_is_not_in_clear_in_redis(deployment: Deployment) -> None:
    """The job carries the message (here an ID number, typed during verification): sealed, never in clear."""
    platform, user, secret = deployment.wechat, "o-sealed", id_number(3)
    platform.send(user, "4")  # 就诊人管理 → add a patient: asks for the name, then the ID number
    platform.send(user, "1")
    platform.send(user, "王小明")
    hold_user_lock(deployment.services, user, 4.0)
    assert platform.post(text_xml(user, secret, platform.msg_id())).body == b"success"
    assert job_queue(deployment.services.redis).count == 1
    assert_no_pii(deployment.services.redis, [secret, user])
    deployment.work()
    assert_no_pii(deployment.services.redis, [secret])
    [pushed] = deployment.wechat_api.calls(CUSTOM)
    assert pushed.body is not None and "手机号" in pushed.body["text"]["content"], pushed.body


def test_an_sms_step_that_ends_late_is_sent_by_the_worker_not_also_answered(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, phone = deployment.services, "+8613912340003"
    engine = build_engine(services)
    real = engine._process

    def slow(*args: Any) -> list[str]:
        time.sleep(0.4)
        return real(*args)

    monkeypatch.setattr(engine, "_process", slow)
    deployment.app = sms_app(services, engine, reply_deadline=0.2)
    status, twiml = deployment.sms(phone, "帮助")
    assert status == 200 and "<Message>" not in twiml
    deployment.work()
    assert len(deployment.twilio_api.messages()) == 2  # the help text and the menu, each once


def test_a_redis_that_hangs_still_gets_wechat_its_answer_within_5_s(tmp_path: Path) -> None:
    """Redis stops answering (SIGSTOP: a stalled server, not a closed socket): the web process's socket timeout bounds
    each command, so the patient is told the busy text well within WeChat's 5 s instead of WeChat giving up."""
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    try:
        client = server.client(socket_timeout=REDIS_SOCKET_TIMEOUT_S)
        raw = config_raw("http://127.0.0.1:9/cgi-bin/", "http://127.0.0.1:9")
        app = create_app(make_services(client, build_config(raw)), expect_worker=False)
        platform = Platform(FlaskTransport(app), safe=True)
        platform.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        assert "1. 预约挂号" in platform.send("o-hang", "菜单")
        answers: list[Any] = []
        request = threading.Thread(
            target=lambda: answers.append(platform.post(text_xml("o-hang", "菜单", platform.msg_id()))), daemon=True
        )
        server.process.send_signal(signal.SIGSTOP)
        try:
            request.start()
            request.join(WECHAT_BUDGET_S)  # a client without a socket timeout would still be waiting
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert answers, "no answer within WeChat's 5 s"
        assert platform.reply_of(answers[0]) == "系统繁忙,请稍后再试。"
        client.close()
    finally:
        server.stop()
