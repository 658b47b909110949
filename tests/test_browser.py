"""End to end in real headless Chromium (Debian's, driven by Playwright) against `guahao serve --demo`.

A new patient verifies with the code shown in the outbox panel, books, sees the confirmation; the clock moves to
the evening before and the reminder appears; staff check the patient in. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import id_number
from tests.test_serve import ROOT, start, stop, wait_healthy

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url, _ = start([sys.executable, "-m", "app"], tmp_path_factory.mktemp("browser"))
    try:
        wait_healthy(url, process, 30)
        yield url
    finally:
        stop(process)


@pytest.fixture
def page(base: str) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(base)
        expect(page.locator("#clock-now")).not_to_have_text("—")
        yield page
        browser.close()


def say(page: Page, text: str, expected: str) -> None:
    """Type into the WeChat chat, wait for the bot's answer and check it contains ``expected``."""
    chat, bots = page.locator("#wechat-chat"), page.locator('#wechat-log .msg[data-from="bot"]')
    expect(chat).to_have_attribute("data-busy", "false")
    before = bots.count()
    page.fill("#wechat-input", text)
    page.press("#wechat-input", "Enter")
    expect(bots).not_to_have_count(before)
    expect(chat).to_have_attribute("data-busy", "false")
    answer = " ".join(bots.nth(i).inner_text() for i in range(before, bots.count()))
    assert expected in answer, answer


def deployment_today(page: Page) -> date:
    return datetime.fromisoformat(page.locator("#clock-now").get_attribute("datetime") or "").date()


def test_verify_book_and_get_reminded_in_the_browser(page: Page) -> None:
    # a fixed morning on the deployment clock, whatever the real time: the evening-before reminder is still ahead
    page.fill("#clock-set-input", f"{deployment_today(page).isoformat()}T08:30")
    page.click("#clock-set")
    expect(page.locator("#clock-now")).to_contain_text("08:30")
    page.fill("#wechat-user", "o-browser-1")
    page.press("#wechat-user", "Enter")
    say(page, "1", "请输入就诊人姓名")
    say(page, "李小红", "身份证号")
    say(page, id_number(601), "手机号")
    say(page, "13912346010", "验证码已发送")
    page.fill("#watch-phone", "13912346010")
    page.press("#watch-phone", "Enter")
    otp = page.locator('.outbox-item[data-kind="otp"]').first
    expect(otp).to_be_visible()
    page.screenshot(path=str(SHOTS / "1-code-in-the-outbox.png"), full_page=True)
    otp.locator(".use-code").click()
    expect(page.locator("#wechat-log")).to_contain_text("手机号已验证;身份证号校验通过")
    expect(page.locator("#wechat-log")).to_contain_text("请选择医院")  # on to the booking it was started for

    say(page, "1", "科室")  # the first hospital
    say(page, "心内", "日期")  # the department by part of its name
    say(page, "1", "时段")  # tomorrow
    say(page, "1", "Y")  # the first slot: the summary asks Y/N
    say(page, "Y", "识别码")
    page.screenshot(path=str(SHOTS / "2-booked.png"), full_page=True)
    expect(page.locator('.outbox-item[data-kind="confirmation"]').first).to_be_visible()

    evening_before = deployment_today(page)  # the visit is tomorrow: today is the evening before
    page.fill("#clock-set-input", f"{evening_before.isoformat()}T19:00")
    page.click("#clock-set")
    expect(page.locator("#clock-now")).to_contain_text("19:00")
    expect(page.locator('.outbox-item[data-kind="reminder"]').first).to_be_visible()
    page.screenshot(path=str(SHOTS / "3-reminder-the-evening-before.png"), full_page=True)

    # staff: the appointment is listed for tomorrow; on the day, before 08:00, it is checked in
    page.fill("#clock-set-input", f"{(evening_before + timedelta(days=1)).isoformat()}T07:30")
    page.click("#clock-set")
    expect(page.locator("#clock-now")).to_contain_text("07:30")
    page.fill("#staff-date", (evening_before + timedelta(days=1)).isoformat())
    page.click("#staff-refresh")
    row = page.locator('#staff-rows tr[data-status="booked"]').first
    expect(row).to_be_visible()
    row.locator(".checkin").click()
    expect(page.locator('#staff-rows tr[data-status="attended"]').first).to_be_visible()
    page.screenshot(path=str(SHOTS / "4-checked-in.png"), full_page=True)
