"""The staff API's page (/api/staff/docs) in real headless Chromium: Swagger UI renders every operation of the
OpenAPI document from this server alone (every request the page makes goes to it; no Content-Security-Policy
violation), and "Try it out" with a staff token lists the appointments. Screenshot in build/screenshots/."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from app.web import create_app
from tests.support import STAFF_TOKEN, Services
from tests.test_browser import ARGS, CHROMIUM, SHOTS

if not CHROMIUM.exists():  # pragma: no cover - CI installs it
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture
def base(svc: Services) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(svc, expect_worker=False), threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_shows_every_operation_from_this_server_alone(base: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1300, "height": 1600}).new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda r: requested.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(base + "/api/staff/docs")
        expect(page.locator(".opblock").first).to_be_visible()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        for path in ("/api/staff/appointments", "/api/staff/schedule", "/fhir/Slot", "/fhir/Appointment"):
            assert any(p.replace("\u200b", "") == path for p in paths), (path, paths)
        expect(page.locator(".info .title")).to_contain_text("guahao staff API")
        page.screenshot(path=str(SHOTS / "staff-api-docs.png"), full_page=False)

        # Authorize with a staff token, then try the listing: the page calls this server with the token
        page.locator("button.authorize").first.click()
        page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(STAFF_TOKEN)
        page.locator(".modal-ux button.authorize").first.click()
        page.locator(".modal-ux button.btn-done").first.click()
        listing = page.locator("#operations-appointments-listAppointments")
        listing.locator(".opblock-summary").click()
        listing.locator("button.try-out__btn").click()
        listing.locator("button.execute").click()
        expect(listing.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")
        page.screenshot(path=str(SHOTS / "staff-api-docs-try-it-out.png"), full_page=False)
        browser.close()
    outside = [url for url in requested if not url.startswith(base) and not url.startswith("data:")]
    assert outside == [], outside
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
