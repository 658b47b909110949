"""Every phrasing of tests/phrases.py, typed at its step through the real pipeline: the bot must do what the row says.

One parametrised test; each row is a new account with one verified patient, so rows never disturb each other.
At the end the share understood is printed (it must be 100 %).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from bot.storage.runtime import EmbeddedRedis
from tests.dialog_support import Chat
from tests.phrases import PHRASES
from tests.support import Services
from tests.test_dialog_understanding import TOMORROW, heart_services

# how to reach each step from the menu (the patient is verified; 心脏病医院 is the only hospital)
STEPS: dict[str, tuple[str, ...]] = {
    "menu": ("菜单",),
    "date": ("菜单", "1", "心内"),
    "slot": ("菜单", "1", "心内", "1"),
    "confirm": ("菜单", "1", "心内", "1", "1"),
    "cancel": ("菜单", "3"),
    "which": ("菜单", "3", "取消"),  # the cancellation's question asked again (取消 reads both ways)
    "department": ("菜单", "1"),
    "move": ("菜单", "改约", "1", "1"),  # the one appointment, tomorrow, the one other slot: the move's confirmation
}
MENU = "1. 预约挂号"
# outcome -> what the reply must show (an outcome "name:detail" passes the detail)
OUTCOMES: dict[str, Callable[[str, str], bool]] = {
    "book": lambda reply, _: "请选择心脏病医院的科室" in reply,
    "list": lambda reply, _: "您目前没有待就诊的预约" in reply,
    "cancel": lambda reply, _: "您目前没有可取消的预约" in reply,
    "reschedule": lambda reply, _: "您目前没有可改约的预约" in reply or "改约 " in reply,
    "waitlist": lambda reply, _: "您目前没有候补" in reply or "您的候补(" in reply,
    "noentry": lambda reply, _: "没有第" in reply and "个候补" in reply,
    "help": lambda reply, _: "随时可回复" in reply,
    "menu": lambda reply, _: reply.startswith("请回复数字选择") or reply.startswith("已退出当前步骤"),
    "nothing": lambda reply, _: "现在没有需要确认的事项" in reply,
    "dates": lambda reply, department: f"请选择{department}的就诊日期" in reply,
    "slots": lambda reply, day: f"{day},请选择时段" in reply,
    "confirm": lambda reply, when: "请确认预约" in reply and when in reply,
    "nodates": lambda reply, department: (
        f"{department}近期暂无可预约的日期" in reply
        and ("请选择心血管内科的就诊日期" in reply or "心血管内科,请选择时段" in reply)
    ),
    "past": lambda reply, _: "已经过去了" in reply and "请确认预约" not in reply,
    "unreleased": lambda reply, _: "尚未放号" in reply and "2027" not in reply and "请确认预约" not in reply,
    "unknown": lambda reply, _: "没看懂" in reply,
    "notfound": lambda reply, _: "没有找到" in reply and "请确认预约" not in reply,
    "outofrange": lambda reply, _: "项,请回复 1-" in reply and "请确认预约" not in reply,
    "booked": lambda reply, _: "预约成功" in reply,
    "declined": lambda reply, _: "本次未预约" in reply,
    "cancelled": lambda reply, _: "已取消预约" in reply,
    "kept": lambda reply, _: "已保留预约" in reply,
    "moved": lambda reply, _: "改约成功" in reply,
    "unmoved": lambda reply, _: "未改约" in reply and "保留" in reply and "改约成功" not in reply,
    "reask": lambda reply, _: "请回复 Y(是)或 N(否)" in reply,
    "which": lambda reply, _: "可以理解为取消,也可以理解为不取消" in reply and "已取消" not in reply,
    "noted": lambda reply, _: "已记下" in reply and "请选择心脏病医院的科室" in reply,
}
_results: list[bool] = []


@pytest.fixture(scope="module")
def services(redis_server: EmbeddedRedis, request: pytest.FixtureRequest) -> Iterator[Services]:
    """One set of services for the whole table (each row has its own account), on an emptied database."""
    client: redis.Redis = redis_server.client()
    client.flushall()
    yield heart_services(client, capacity=9999)
    client.close()
    understood = sum(_results)
    share = f"phrases understood: {understood}/{len(_results)} = {understood / max(len(_results), 1):.1%}"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():  # shown in every run, not only with -s
            reporter.write_line(f"\n{share}")


@pytest.mark.parametrize(("index", "step", "typed", "outcome"), [(i, *row) for i, row in enumerate(PHRASES)])
def test_phrase(services: Services, index: int, step: str, typed: str, outcome: str) -> None:
    user = f"phrase-{index}"
    acct, patient = services.patient(1000 + index, user=user)
    serial = ""
    if step in ("cancel", "which", "move"):
        serial = services.booking.book(patient.pid, acct, "wechat", f"h9|xn|zw|{TOMORROW}|08:00").serial
    chat = Chat(services, user=user)
    for typed_before in STEPS[step]:
        chat.send(typed_before)
    reply = chat.send(typed.replace("{serial}", serial))
    name, _, detail = outcome.partition(":")
    ok = OUTCOMES[name](reply, detail)
    _results.append(ok)
    assert ok, f"at {step}, {typed!r} must give {outcome}; the bot said:\n{reply}"
