"""`guahao serve --demo --config F` as an operator runs it (SPEC §7): the demo fills only what F leaves out.

Real `serve` processes: F's staff token works and no demo token is shown, F's Twilio auth token turns the SMS
webhook on (signed with twilio's own RequestValidator); with F silent on each, the demo fills them in — the calendar
links of confirmations too, pointing at the server itself (in the web process's replies and in the confirmation its
worker child sends).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from app.demo import demo_config_layer, with_demo_calendar
from bot.config import load_config
from tests.support import make_config
from tests.test_serve import Server, free_port, up_to_the_confirmation, wait_healthy

OPERATOR_TOKEN = "operator-staff-token-0123456789"
TWILIO_AUTH = "operator-twilio-auth-token-0123"


def operator_config(port: int) -> str:
    return f"""
[server]
public_url = "http://127.0.0.1:{port}"

[security]
secret_key = "operator-secret-key-of-at-least-32-characters"
staff_tokens = [{{ name = "front-desk", token = "{OPERATOR_TOKEN}" }}]

[sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000000"
auth_token = "{TWILIO_AUTH}"
from_number = "+15005550006"
api_base_url = "http://127.0.0.1:9"
"""


SILENT_CONFIG = """
[policy]
preset = "beijing-114"
"""


def serve_with(tmp_path: Path, config_text: Callable[[int], str]) -> Iterator[Server]:
    port = free_port()
    config = tmp_path / "mine.toml"
    config.write_text(config_text(port), encoding="utf-8")
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--demo", "--config", str(config), "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, 60)
        yield Server(process, base, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Server]:
    yield from serve_with(tmp_path, operator_config)


@pytest.fixture
def silent(tmp_path: Path) -> Iterator[Server]:
    yield from serve_with(tmp_path, lambda port: SILENT_CONFIG)


def twilio_post(server: Server, auth_token: str, text: str) -> tuple[int, str]:
    url = server.base + "/sms/twilio"
    params = {"From": "+8613912340077", "To": "+15005550006", "Body": text, "MessageSid": "SM" + "1" * 32}
    signature = RequestValidator(auth_token).compute_signature(url, params)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST")
    request.add_header("X-Twilio-Signature", signature)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read().decode()


def test_the_operators_settings_are_never_replaced_by_the_demo(operator: Server) -> None:
    status, info = operator.call("GET", "/simulator/info")
    assert status == 200 and len(info["hospitals"]) == 2  # the demo hospitals fill the gap F leaves
    assert not info.get("staff_token"), "the simulator must not reveal (or invent) a staff token when F sets one"

    assert operator.call("GET", "/api/staff/appointments", token=OPERATOR_TOKEN)[0] == 200
    for other in ("demo-staff-token-change-me", "demo-" + "0" * 32, "wrong-token-0123456789"):
        assert operator.call("GET", "/api/staff/appointments", token=other)[0] == 401

    status, body = twilio_post(operator, TWILIO_AUTH, "帮助")
    assert status == 200 and "<Response>" in body and "<Message>" in body, body
    assert twilio_post(operator, "forged-auth-token-000000000000", "帮助")[0] == 403


def test_with_the_file_silent_the_demo_fills_each_part(silent: Server) -> None:
    status, info = silent.call("GET", "/simulator/info")
    assert status == 200 and len(info["hospitals"]) == 2
    token = info["staff_token"]
    assert token, "with no staff token configured, the demo makes one and the simulator shows it"
    assert silent.call("GET", "/api/staff/appointments", token=token)[0] == 200

    # console senders: the SMS code lands in the simulator's outbox; no auth token, so no Twilio webhook
    silent.say("sms", "13912340078", "1")
    assert silent.call("POST", "/sms/twilio", {"Body": "1"})[0] == 404

    # the calendar links point at this server (no calendar_base_url in F): the booking reply, and the
    # confirmation the worker child sends (the clock left alone: no burst run in the web process)
    openid = "o-demo-calendar"
    up_to_the_confirmation(silent, openid, "13912340079", 601)
    done = silent.say("wechat", openid, "Y")
    link = re.search(r"(http://\S+)/calendar/([\w-]+)\.ics", done)
    assert link and link.group(1) == silent.base, done
    status, ics = silent.call("GET", f"/calendar/{link.group(2)}.ics")
    assert status == 200 and "BEGIN:VCALENDAR" in ics and "BEGIN:VEVENT" in ics, ics
    deadline = time.monotonic() + 60
    while not (sent := [m for m in silent.outbox(openid) if m["kind"] == "confirmation"]):
        assert time.monotonic() < deadline, "the worker child sent no confirmation"
        time.sleep(0.1)
    assert link.group(0) in sent[0]["text"], sent


CALENDAR = "server.calendar_base_url"


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),  # listening everywhere: loopback reaches it from this machine
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("guahao.local", "http://guahao.local:8000"),
    ],
)
def test_the_demo_points_calendar_links_at_the_listening_address(host: str, base: str) -> None:
    config = with_demo_calendar(make_config(), host, 8000)
    assert config.server.calendar_base_url == base and config.source(CALENDAR) == "demo"


def test_the_demo_points_calendar_links_at_the_public_url_when_set(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[server]\npublic_url = "https://guahao.example.org/bot/"\n', encoding="utf-8")
    config = with_demo_calendar(load_config(mine, env={}, demo=demo_config_layer()), "0.0.0.0", 8000)
    assert config.server.calendar_base_url == "https://guahao.example.org/bot"


@pytest.mark.parametrize(
    ("file", "env", "expected"),
    [
        ('calendar_base_url = ""', {}, ""),  # an explicit empty value: no links, as the operator said
        ('calendar_base_url = "https://cal.example.org"', {}, "https://cal.example.org"),
        ("", {"GUAHAO_SERVER_CALENDAR_BASE_URL": "https://env.example.org"}, "https://env.example.org"),
    ],
)
def test_a_configured_calendar_base_url_is_never_replaced_by_the_demo(
    tmp_path: Path, file: str, env: dict[str, str], expected: str
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(f"[server]\n{file}\n", encoding="utf-8")
    loaded = load_config(mine, env=env, demo=demo_config_layer())
    config = with_demo_calendar(loaded, "127.0.0.1", 8000)
    assert config.server.calendar_base_url == expected and config.source(CALENDAR) == loaded.source(CALENDAR) != "demo"
