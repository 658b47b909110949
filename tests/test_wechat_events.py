"""WeChat events a hospital relies on (issue 17): template delivery reports recorded, a failed reminder falling back to
SMS once; a department's QR code (``SCAN``, or ``subscribe`` through it) opening booking there; ``guahao
wechat-qrcode`` creating the code through the WeChat API. The pushes are wechatpy's own sample event XML
(tests/fixtures/wechat/) signed as WeChat signs them; outbound calls go through wechatpy to the local stand-in of the
WeChat API; the worker runs the fallback job; a real Redis."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from adapters.wechat.events import department_scene, scene_department
from app.web import create_app
from app.worker import run_worker
from bot.config import build_config
from bot.notifications.outbox import OutboxKind
from bot.storage import keys
from tests.pii_scan import assert_no_pii
from tests.support import CONFIG_RAW, NOW, Services, id_number, make_services, patient_name, phone_number, schedule_csv
from tests.test_cli import CONFIG, run
from tests.test_wechat import ACCOUNT, TOKEN, FlaskTransport, Platform
from tests.wechat_standin import APP_ID, APP_SECRET, QR_IMAGE, WeChatStandin, running_standin

FIXTURES = Path(__file__).parent / "fixtures" / "wechat"
TEMPLATE = "TPL-reminder"
TOMORROW = NOW.date().fromordinal(NOW.date().toordinal() + 1)


def sample(name: str, **fields: str) -> str:
    """A sample push of wechatpy's tests with some fields replaced (``FromUserName="o-1"``...)."""
    xml = (FIXTURES / name).read_text()
    for field, value in {"ToUserName": ACCOUNT, **fields}.items():
        xml, count = re.subn(
            rf"<{field}>(<!\[CDATA\[)?[^<\]]*(\]\]>)?</{field}>", rf"<{field}>\g<1>{value}\g<2></{field}>", xml
        )
        assert count == 1, field
    return xml


@pytest.fixture
def standin() -> Iterator[WeChatStandin]:
    with running_standin() as server:
        yield server


class Hospital:
    """The test hospitals, WeChat pushes through the API stand-in (templates), SMS to the console outbox."""

    def __init__(self, client: redis.Redis, standin: WeChatStandin) -> None:
        raw: dict[str, Any] = copy.deepcopy(CONFIG_RAW)
        raw["wechat"] = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN, "push": "api",
                         "api_base_url": standin.base_url, "reminder_template_id": TEMPLATE}  # fmt: skip
        raw["sms"] = {"provider": "console"}
        self.svc: Services = make_services(client, build_config(raw))
        self.svc.schedule.import_csv(schedule_csv(TOMORROW))
        self.platform = Platform(FlaskTransport(create_app(self.svc, expect_worker=False)), safe=False)
        self.created = int(time.time())

    def push(self, xml: str) -> str:
        return self.platform.reply_of(self.platform.post(xml))

    def event_time(self) -> str:
        self.created += 1  # events are deduped by user and CreateTime: each its own second, as on WeChat
        return str(self.created)

    def remind(self, n: int, openid: str) -> tuple[str, str]:
        """Book patient ``n`` on WeChat and push a reminder as a template message: (serial, WeChat's msgid)."""
        acct, patient = self.svc.patient(n, user=openid)
        appointment = self.svc.booking.book(patient.pid, acct, "wechat", f"h1|nk|dr-nk|{TOMORROW}|08:00")
        self.svc.notifier.remember_address(appointment, openid, "wechat")
        body = self.svc.notifier.compose(appointment, "day_before")
        key = f"reminder-{appointment.serial}-day_before"
        delivery = self.svc.notifier.deliver(appointment, OutboxKind.reminder, body, key, respect_opt_out=True)
        assert delivery.ok and delivery.channel == "wechat"
        [msgid] = [k.decode().rsplit(":", 1)[1] for k in self.svc.redis.keys(keys.wechat_template_sent("*"))]
        return appointment.serial, msgid

    def report(self, msgid: str, status: str, created: str | None = None) -> str:
        xml = sample("template_send_job_finish.xml", FromUserName="o-reported", MsgID=msgid, Status=status,
                     CreateTime=created or self.event_time())  # fmt: skip
        return self.push(xml)

    def sms_to(self, n: int) -> list[dict[str, str]]:
        return self.svc.outbox.messages_for(phone_number(n))


@pytest.fixture
def hospital(redis_db: redis.Redis, standin: WeChatStandin) -> Hospital:
    return Hospital(redis_db, standin)


# --- delivery reports ----------------------------------------------------------------------------------------
def test_a_reminder_reported_failed_user_block_falls_back_to_sms_once(
    hospital: Hospital, standin: WeChatStandin
) -> None:
    serial, msgid = hospital.remind(1, "o-1")
    [sent] = standin.calls("/cgi-bin/message/template/send")
    assert sent.body["template_id"] == TEMPLATE and sent.body["touser"] == "o-1"  # type: ignore[index]
    created = hospital.event_time()
    assert hospital.report(msgid, "failed:user block", created) == ""  # answered success
    assert hospital.report(msgid, "failed:user block", created) == ""  # WeChat's retry of the same push
    assert hospital.report(msgid, "failed:user block") == ""  # and the same report again, later
    assert hospital.sms_to(1) == []  # not in the webhook: the worker sends it
    run_worker(hospital.svc, burst=True)
    [sms] = hospital.sms_to(1)
    assert sms["kind"] == "reminder" and serial in sms["text"] and "明天" in sms["text"]
    run_worker(hospital.svc, burst=True)
    assert len(hospital.sms_to(1)) == 1
    assert hospital.svc.notifier.reports.report(msgid)["status"] == "failed:user block"  # type: ignore[union-attr]
    assert_no_pii(
        hospital.svc.redis, [id_number(1), phone_number(1), patient_name(1), "o-1"]
    )  # what was pushed, at rest


def test_a_system_failure_falls_back_too_and_success_does_not(hospital: Hospital) -> None:
    _, failed = hospital.remind(2, "o-2")
    assert hospital.report(failed, "failed: system failed") == ""
    run_worker(hospital.svc, burst=True)
    assert [m["kind"] for m in hospital.sms_to(2)] == ["reminder"]


def test_a_success_report_is_recorded_and_nothing_is_sent(hospital: Hospital) -> None:
    _, msgid = hospital.remind(3, "o-3")
    assert hospital.report(msgid, "success") == ""
    run_worker(hospital.svc, burst=True)
    assert hospital.sms_to(3) == []
    assert hospital.svc.notifier.reports.report(msgid)["status"] == "success"  # type: ignore[union-attr]


def test_a_failed_reminder_of_an_appointment_cancelled_meanwhile_sends_nothing(hospital: Hospital) -> None:
    serial, msgid = hospital.remind(4, "o-4")
    hospital.svc.booking.cancel(serial, "patient")
    hospital.report(msgid, "failed:user block")
    run_worker(hospital.svc, burst=True)
    assert [m for m in hospital.sms_to(4) if m["kind"] == "reminder"] == []


def test_a_report_of_a_message_not_ours_or_without_an_id_is_only_recorded(hospital: Hospital) -> None:
    assert hospital.report("987654321", "failed:user block") == ""
    assert hospital.svc.notifier.reports.report("987654321")["status"] == "failed:user block"  # type: ignore[union-attr]
    no_id = sample("template_send_job_finish.xml", MsgID="", CreateTime=hospital.event_time())
    assert hospital.push(no_id) == ""
    run_worker(hospital.svc, burst=True)
    assert hospital.svc.outbox.since()[1] == []


def test_an_immediate_fallback_and_a_late_failure_report_send_one_sms(hospital: Hospital) -> None:
    """The same notification already went to SMS (its immediate fallback, same send-once key): a late failure
    report of its template message sends no second SMS."""
    serial, msgid = hospital.remind(5, "o-5")
    appointment = hospital.svc.store.require(serial)
    body = hospital.svc.notifier.compose(appointment, "day_before")
    key = f"reminder-{serial}-day_before"
    assert hospital.svc.notifier.deliver(appointment, OutboxKind.reminder, body, key, lookup=False).channel == "sms"
    assert len(hospital.sms_to(5)) == 1
    hospital.report(msgid, "failed:user block")
    run_worker(hospital.svc, burst=True)
    assert len(hospital.sms_to(5)) == 1


# --- a department's QR code ---------------------------------------------------------------------------------
def test_scanning_a_departments_code_asks_the_next_step_of_booking_there(hospital: Hospital) -> None:
    hospital.svc.patient(6, user="o-6")  # verified, one patient: hospital and department come from the code
    xml = sample(
        "scan.xml", FromUserName="o-6", EventKey=department_scene("h1", "wk"), CreateTime=hospital.event_time()
    )
    reply = hospital.push(xml)
    assert "请选择外科的就诊日期" in reply, reply
    assert hospital.push(sample("scan.xml", FromUserName="o-6", EventKey="1", CreateTime=hospital.event_time())) == ""


def test_following_through_a_departments_code_welcomes_then_books_there(hospital: Hospital) -> None:
    hospital.svc.patient(7, user="o-7")
    xml = sample("subscribe_scan.xml", FromUserName="o-7", EventKey=f"qrscene_{department_scene('h2', 'nk')}",
                 CreateTime=hospital.event_time())  # fmt: skip
    reply = hospital.push(xml)
    assert reply.startswith("欢迎使用预约挂号服务") and "请选择内科的就诊日期" in reply, reply
    new = sample("subscribe_scan.xml", FromUserName="o-new", EventKey=f"qrscene_{department_scene('h1', 'wk')}",
                 CreateTime=hospital.event_time())  # fmt: skip
    first = hospital.push(new)
    assert "实名认证" in first and "请输入就诊人姓名" in first, first  # verification first, booking kept for after


def test_a_follow_through_another_code_is_a_plain_follow(hospital: Hospital) -> None:
    xml = sample("subscribe_scan.xml", FromUserName="o-8", CreateTime=hospital.event_time())  # qrscene_123123
    reply = hospital.push(xml)
    assert reply.startswith("欢迎使用预约挂号服务") and "1. 预约挂号" in reply


def test_scene_keys_match_configured_departments_whole() -> None:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["hospitals"].append({"id": "h1:wk", "name": "冒号医院", "departments": [{"id": "x", "name": "X"}]})
    config = build_config(raw)
    assert scene_department(config, "dept:h1:wk") == ("h1", "wk")
    assert scene_department(config, "qrscene_dept:h1:wk:x") == ("h1:wk", "x")
    assert scene_department(config, "dept:h1:nope") is None and scene_department(config, "h1:wk") is None


# --- guahao wechat-qrcode -------------------------------------------------------------------------------------
def test_wechat_qrcode_creates_the_code_through_the_api(tmp_path: Path, standin: WeChatStandin) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(data=tmp_path / "data")
        + '[[hospitals]]\nid = "h2"\nname = "第二医院"\n[[hospitals.departments]]\nid = "nk"\nname = "内科"\n'
        + f'[wechat]\napp_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\napi_base_url = "{standin.base_url}"\n'
    )
    picture = tmp_path / "nk.jpg"
    result = run(
        "wechat-qrcode", "--department", "nk", "--hospital", "h2", "--save", str(picture), "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    [created] = standin.calls("/cgi-bin/qrcode/create")
    assert created.body == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "dept:h2:nk"}}}
    assert "dept:h2:nk" in result.stdout and "code URL: http://weixin.qq.com/q/" in result.stdout
    assert f"image: {standin.base_url.rstrip('/')}/showqrcode?ticket=TICKET/dept%3Ah2%3Ank" in result.stdout
    assert picture.read_bytes() == QR_IMAGE

    ambiguous = run("wechat-qrcode", "--department", "nk", "--config", str(config))
    assert ambiguous.returncode == 1 and ambiguous.stderr.count("\n") == 1 and "add --hospital" in ambiguous.stderr
    unknown = run("wechat-qrcode", "--department", "zz", "--config", str(config))
    assert unknown.returncode == 1 and "no department 'zz'" in unknown.stderr and "Traceback" not in unknown.stderr
