"""The waitlist and rescheduling end to end in real headless Chromium (Debian's, driven by Playwright) against
`guahao serve --demo` (SPEC §8): a full slot -> join its waitlist -> another patient cancels -> the offer appears in
the outbox -> Y -> booked with its confirmation; then a reschedule from 我的预约. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import APIRequestContext, Page, expect

from tests.support import id_number
from tests.test_browser import SHOTS, base, deployment_today, page, say

__all__ = ["base", "page"]  # the fixtures of the browser test: one server and one browser page for this module too

OTHER = "o-waitlist-other"


def api(request: APIRequestContext, base_url: str, text: str, user: str = OTHER) -> str:
    """The other patient, talking through the simulator's API (the same pipeline as the page)."""
    answer: Any = request.post(
        f"{base_url}/simulator/send", data={"channel": "wechat", "user": user, "text": text}
    ).json()
    return "\n\n".join(answer["replies"])


def number_of(reply: str, start: str) -> str:
    """The option number of the slot starting at ``start`` in a slot list."""
    found = re.search(rf"(\d+)\. [^\n]*{start}-", reply)
    assert found, reply
    return found[1]


def last_bot(page: Page) -> str:
    bots = page.locator('#wechat-log .msg[data-from="bot"]')
    return bots.nth(bots.count() - 1).inner_text()


def test_full_slot_join_offer_y_booked_then_reschedule(page: Page, base: str) -> None:
    today = deployment_today(page)
    page.fill("#clock-set-input", f"{today.isoformat()}T08:30")
    page.click("#clock-set")
    expect(page.locator("#clock-now")).to_contain_text("08:30")
    request = page.request
    info: Any = request.get(f"{base}/simulator/info").json()
    tomorrow = (today + timedelta(days=1)).isoformat()
    header = "hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name\n"
    csv = f"{header}bjdyyy,pfk,dr-wl,expert,{tomorrow},19:00,20:00,1,50,候补医生\n"
    imported = request.post(
        f"{base}/api/staff/schedule",
        data=csv,
        headers={"Authorization": f"Bearer {info['staff_token']}", "Content-Type": "text/csv"},
    )
    assert imported.status == 200, imported.text()

    # the other patient books the one place of 皮肤科 tomorrow 19:00
    api(request, base, "1")
    api(request, base, "王大明")
    api(request, base, id_number(611))
    api(request, base, "13912346110")
    outbox: Any = request.get(f"{base}/simulator/outbox", params={"to": "13912346110"}).json()
    code = re.search(r"\d{6}", outbox["messages"][-1]["text"])
    assert code
    assert "请选择医院" in api(request, base, code[0])
    api(request, base, "1")
    api(request, base, "皮肤科")
    slots = api(request, base, "1")
    assert "请确认预约" in api(request, base, number_of(slots, "19:00"))
    assert "识别码" in api(request, base, "Y")

    # the patient in the page finds it full and joins its waitlist
    page.fill("#wechat-user", "o-waitlist-page")
    page.press("#wechat-user", "Enter")
    say(page, "1", "请输入就诊人姓名")
    say(page, "李候补", "身份证号")
    say(page, id_number(612), "手机号")
    say(page, "13912346120", "验证码已发送")
    page.fill("#watch-phone", "13912346120")
    page.press("#watch-phone", "Enter")
    page.locator('.outbox-item[data-kind="otp"]').first.locator(".use-code").click()
    expect(page.locator("#wechat-log")).to_contain_text("请选择医院")
    say(page, "1", "科室")
    say(page, "皮肤科", "日期")
    say(page, "1", "时段")
    say(page, number_of(last_bot(page), "19:00"), "可加入候补")
    say(page, "1", "已加入候补")
    page.screenshot(path=str(SHOTS / "waitlist-1-joined.png"), full_page=True)

    # the other patient cancels: the place is held for the waiter, the offer lands in the outbox
    assert "确认取消" in api(request, base, "3")
    assert "已取消预约" in api(request, base, "Y")
    offer = page.locator('.outbox-item[data-kind="offer"]').first
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("19:00")
    page.screenshot(path=str(SHOTS / "waitlist-2-offer.png"), full_page=True)
    say(page, "Y", "候补成功")
    expect(page.locator('.outbox-item[data-kind="confirmation"]').first).to_be_visible()
    page.screenshot(path=str(SHOTS / "waitlist-3-booked.png"), full_page=True)

    # a reschedule from 我的预约
    say(page, "2", "改约")
    serials = re.findall(r"改约 (\d{8})", page.locator("#wechat-log").inner_text())
    assert serials
    say(page, f"改约 {serials[-1]}", "就诊日期")
    say(page, "1", "时段")
    say(page, "1", "请确认改约")
    say(page, "Y", "改约成功")
    expect(page.locator('.outbox-item[data-kind="rescheduled"]').first).to_be_visible()
    page.screenshot(path=str(SHOTS / "waitlist-4-rescheduled.png"), full_page=True)
