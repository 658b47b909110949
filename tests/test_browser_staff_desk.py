"""The staff desk beyond the demo (issue 17 part 6), in real headless Chromium (Debian's, driven by Playwright)
against ``guahao serve`` **without --demo**: a configured hospital, a schedule imported with the CLI, a configured
staff token that the page never learns from the server and asks for.

It asks for the token (a wrong one is refused in the page's language and forgotten), keeps it for this browser
session only and never shows it back; it opens on the next day with appointments, not today; check-in is offered
only on the visit day, and an early check-in (the clock moved back by another page) is explained in the page's
language; the page switches between Chinese and English. Screenshots go to build/screenshots/ (ignored by git).
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import SHANGHAI, id_number
from tests.test_browser import ARGS, CHROMIUM, SHOTS
from tests.test_serve import Server, free_port, stop, wait_healthy

if not CHROMIUM.exists():  # pragma: no cover - test_browser.py already fails in CI when it is missing
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

TOKEN = "desk-" + secrets.token_urlsafe(24)
CONFIG = """
[server]
simulator = true

[security]
staff_tokens = [{{ name = "front-desk", token = "{token}" }}]

[sms]
provider = "console"

[wechat]
push = "console"

[[hospitals]]
id = "xh"
name = "协和示例医院"
name_en = "Xiehe Example Hospital"

[[hospitals.departments]]
id = "xnk"
name = "心血管内科"
name_en = "Cardiology"
"""


def schedule(first: date) -> str:
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    for offset in range(1, 8):
        rows.append(f"xh,xnk,zhang-wei,general,{first + timedelta(days=offset)},08:00,12:00,20,5,张伟")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("staff-desk")
    (cwd / "config.toml").write_text(CONFIG.format(token=TOKEN), encoding="utf-8")
    today = datetime.now(SHANGHAI).date()
    (cwd / "slots.csv").write_text(schedule(today), encoding="utf-8")
    imported = subprocess.run(
        [sys.executable, "-m", "app", "schedule", "import", "slots.csv"],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout + imported.stderr
    port = free_port()
    log = cwd / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],  # no --demo
        cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # our own process group: stopped by its PID, nothing else touched
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process, 30)
        yield Server(process, base, log)
    finally:
        if process.poll() is None:
            stop(process)


def book_tomorrow(server: Server) -> tuple[str, date]:
    """A patient verifies and books the first slot (tomorrow) over WeChat, through the simulator's API."""
    status, info = server.call("GET", "/simulator/info")
    assert status == 200 and info["staff_token"] == "", "a configured token is never given to the page"
    assert TOKEN not in str(info)
    today = datetime.fromisoformat(info["now"]).astimezone(SHANGHAI).date()
    status, _ = server.call("POST", "/simulator/clock", {"set": f"{today}T09:00:00+08:00"})
    assert status == 200
    openid, phone = "o-staff-desk", "13912347001"
    server.say("wechat", openid, "1")
    server.say("wechat", openid, "王小明")
    server.say("wechat", openid, id_number(701))
    server.say("wechat", openid, phone)
    [otp] = [m for m in server.outbox(phone) if m["kind"] == "otp"]
    server.say("wechat", openid, re.search(r"\d{6}", otp["text"]).group())  # type: ignore[union-attr]
    for typed in ("心内", "1", "1"):  # the one hospital is not asked; tomorrow; the 08:00 slot
        server.say("wechat", openid, typed)
    done = server.say("wechat", openid, "Y")
    serial = re.search(r"识别码 ?(\d{8})", done)
    assert serial, done
    return serial.group(1), today + timedelta(days=1)


@pytest.fixture
def page(server: Server) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def set_clock(page: Page, moment: str) -> None:
    page.fill("#clock-set-input", moment)
    page.click("#clock-set")
    expect(page.locator("#clock-now")).to_contain_text(moment[-5:])


def test_the_staff_desk_with_a_configured_token(server: Server, page: Page) -> None:
    serial, visit = book_tomorrow(server)
    page.goto(server.base + "/")
    expect(page.locator("#clock-now")).not_to_have_text("—")
    today = visit - timedelta(days=1)

    # asked for a token, in Chinese; a wrong one is refused and forgotten, and never shown
    expect(page.locator("#staff-token-form")).to_be_visible()
    expect(page.locator("#staff-error")).to_have_text("请输入工作人员令牌,才能查看预约和签到。")
    wrong = "wrong-" + secrets.token_urlsafe(12)
    page.fill("#staff-token", wrong)
    page.click("#staff-token-use")
    expect(page.locator("#staff-error")).to_have_text("工作人员令牌无效,已清除。请重新输入正确的令牌。")
    expect(page.locator("#staff-token-form")).to_be_visible()
    assert wrong not in page.content()
    page.screenshot(path=str(SHOTS / "staff-1-token-refused.png"), full_page=True)

    # the configured token: kept for this browser session only, cleared from the field, never in the page
    page.fill("#staff-token", TOKEN)
    page.click("#staff-token-use")
    expect(page.locator("#staff-token-state")).to_contain_text("已使用工作人员令牌(仅本浏览器会话)")
    assert page.input_value("#staff-token") == "" and TOKEN not in page.content()
    assert page.evaluate("JSON.stringify(window.sessionStorage)").count(TOKEN) == 1
    assert TOKEN not in page.evaluate("JSON.stringify(window.localStorage)")

    # it opens on the next day with appointments (tomorrow), not today; check-in is for the visit day only
    expect(page.locator("#staff-date")).to_have_value(visit.isoformat())
    row = page.locator(f'#staff-rows tr[data-serial="{serial}"]')
    expect(row).to_have_attribute("data-status", "booked")
    expect(row.locator(".checkin")).to_have_count(0)
    expect(row).to_contain_text("就诊当天可签到")
    expect(page.locator("#staff-caption")).to_have_text(f"{visit.isoformat()} 的预约")
    page.screenshot(path=str(SHOTS / "staff-2-opens-on-the-next-day.png"), full_page=True)

    # in English: the desk's words, the department's English name
    page.click("#lang-en")
    expect(row).to_contain_text("Check-in on the visit day")
    expect(row).to_contain_text("Cardiology")
    expect(page.locator("#staff-caption")).to_have_text(f"Appointments on {visit.isoformat()}")
    expect(page.locator("#staff-token-state")).to_contain_text("A staff token is in use (this browser session only).")

    # the visit day: check-in is offered; another page moves the clock back before the click: explained, in English
    set_clock(page, f"{visit.isoformat()}T07:30")
    button = row.locator(".checkin")
    expect(button).to_be_visible()
    status, _ = server.call("POST", "/simulator/clock", {"set": f"{today}T10:00:00+08:00"})
    assert status == 200
    button.click()
    expect(page.locator("#staff-error")).to_have_text(
        f"Appointment {serial} is on {visit.isoformat()} and today is {today.isoformat()}: check-in is possible "
        f"only on the visit day. Check in on {visit.isoformat()}."
    )
    expect(row.locator(".checkin")).to_have_count(0)
    assert "HTTP" not in page.locator("#staff-error").inner_text()
    page.screenshot(path=str(SHOTS / "staff-3-early-check-in-explained.png"), full_page=True)  # the page in English

    # the same session after a reload: the token is still there (never asked again, never shown)
    page.reload()
    expect(page.locator("#staff-token-state")).to_be_visible()
    expect(page.locator("#staff-token-form")).to_be_hidden()
    assert TOKEN not in page.content()

    # on the visit day it is checked in
    set_clock(page, f"{visit.isoformat()}T07:30")
    page.locator(f'#staff-rows tr[data-serial="{serial}"] .checkin').click()
    expect(page.locator(f'#staff-rows tr[data-serial="{serial}"]')).to_have_attribute("data-status", "attended")
    expect(page.locator(f'#staff-rows tr[data-serial="{serial}"]')).to_contain_text("attended")
    page.screenshot(path=str(SHOTS / "staff-4-checked-in-on-the-visit-day.png"), full_page=True)


def test_screenshots_are_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SHOTS / "staff-1-token-refused.png")],
        cwd=Path(__file__).resolve().parent.parent, check=False,
    )  # fmt: skip
    assert ignored.returncode == 0, "build/screenshots/ must be in .gitignore"
