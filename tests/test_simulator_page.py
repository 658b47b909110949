"""The web simulator page (SPEC §4 `GET /`): static, self-contained, accessible, and calling only the simulator and
staff endpoints. Fast checks on the files themselves; the end-to-end run against `guahao serve --demo` is elsewhere."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "adapters" / "console" / "static"
HTML = STATIC / "simulator.html"
CSS = STATIC / "simulator.css"
JS = STATIC / "simulator.js"

# the endpoints the page may call: SPEC §4 (simulator and staff API) plus the lead's /simulator/info
ALLOWED_ENDPOINTS = {
    "/simulator/info",
    "/simulator/send",
    "/simulator/outbox",
    "/simulator/clock",
    "/api/staff/appointments",
    "/api/staff/broadcasts",
}

REQUIRED_IDS = [
    "wechat-chat",
    "sms-chat",
    "wechat-input",
    "sms-input",
    "wechat-log",
    "sms-log",
    "wechat-user",
    "sms-user",
    "outbox",
    "watch-phone",
    "clock-plus-hour",
    "clock-plus-day",
    "clock-set-input",
    "clock-set",
    "clock-now",
    "staff-date",
    "staff-token",
    "staff-token-form",
    "staff-hospital",
    "staff-table",
    "broadcast-form",
    "broadcast-progress",
]


class Page(HTMLParser):
    """Every element's tag and attributes, in document order, plus the text of inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.inline_code: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.inline_code.append(data)

    def ids(self) -> list[str]:
        return [attrs["id"] for _, attrs in self.elements if "id" in attrs]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        return next((tag, attrs) for tag, attrs in self.elements if attrs.get("id") == element_id)


@pytest.fixture(scope="module")
def page() -> Page:
    parser = Page()
    parser.feed(HTML.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_the_three_static_files_exist_and_are_utf8() -> None:
    for path in (HTML, CSS, JS):
        assert path.is_file(), path
        assert path.read_text(encoding="utf-8").strip(), f"{path.name} is empty"


@pytest.mark.parametrize("path", [HTML, CSS, JS], ids=lambda p: p.name)
def test_no_external_resources(path: Path) -> None:
    """The machine may have no internet: no CDN, no absolute URL, no protocol-relative URL, no @import."""
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text
    assert "https://" not in text
    assert "//cdn" not in text
    assert "@import" not in text
    # protocol-relative references in attributes or CSS url()
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']//""", text)
    assert not re.search(r"""url\(\s*["']?//""", text)


def test_page_loads_only_its_own_css_and_js(page: Page) -> None:
    scripts = [attrs for tag, attrs in page.elements if tag == "script"]
    styles = [attrs for tag, attrs in page.elements if tag == "link" and attrs.get("rel") == "stylesheet"]
    assert [s.get("src") for s in scripts] == ["static/simulator.js"]
    assert [s.get("href") for s in styles] == ["static/simulator.css"]
    # nothing inline: works under a strict Content-Security-Policy
    assert page.inline_code == []
    for tag, attrs in page.elements:
        assert "style" not in attrs, f"inline style on <{tag} id={attrs.get('id')}>"
        assert not [a for a in attrs if a.startswith("on")], f"inline handler on <{tag} id={attrs.get('id')}>"
    for tag, attrs in page.elements:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("static/", "#", "data:")), f"<{tag} {name}={value!r}>"


def test_html_has_the_stable_ids(page: Page) -> None:
    ids = page.ids()
    missing = [i for i in REQUIRED_IDS if i not in ids]
    assert not missing, missing
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, duplicates


def test_ids_have_the_expected_elements(page: Page) -> None:
    assert page.by_id("clock-set-input")[0] == "input"
    assert page.by_id("clock-set-input")[1].get("type") == "datetime-local"
    assert page.by_id("staff-date")[1].get("type") == "date"
    assert page.by_id("staff-hospital")[0] == "select"
    assert page.by_id("staff-table")[0] == "table"
    assert page.by_id("broadcast-form")[0] == "form"
    assert page.by_id("wechat-input")[0] == "input"
    assert page.by_id("sms-input")[0] == "input"
    for button in ("clock-plus-hour", "clock-plus-day", "clock-set"):
        tag, attrs = page.by_id(button)
        assert tag == "button" and attrs.get("type") == "button"


def test_every_form_control_has_a_label(page: Page) -> None:
    labelled = {attrs["for"] for tag, attrs in page.elements if tag == "label" and "for" in attrs}
    controls = [
        (tag, attrs)
        for tag, attrs in page.elements
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit", "button")
    ]
    assert controls
    unlabelled = [
        attrs.get("id") or tag
        for tag, attrs in controls
        if attrs.get("id") not in labelled and not attrs.get("aria-label")
    ]
    assert not unlabelled, unlabelled
    # and every label points at something that exists
    ids = set(page.ids())
    assert labelled <= ids, labelled - ids


def test_live_regions_and_language(page: Page) -> None:
    for region in ("wechat-log", "sms-log", "outbox"):
        assert page.by_id(region)[1].get("aria-live") == "polite", region
    html = next(attrs for tag, attrs in page.elements if tag == "html")
    assert html.get("lang")
    assert any(tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in page.elements)
    # error notes are announced
    for note in ("wechat-error", "sms-error", "outbox-error", "clock-error", "staff-error", "broadcast-error"):
        assert page.by_id(note)[1].get("role") == "alert", note


def test_js_calls_only_the_listed_endpoints() -> None:
    text = JS.read_text(encoding="utf-8")
    literals = set(re.findall(r"""["'`](/(?:simulator|api/staff)(?:/[^"'`?]*)?)""", text))
    assert literals == ALLOWED_ENDPOINTS, literals ^ ALLOWED_ENDPOINTS
    # the per-appointment and per-broadcast paths are built from those two bases only
    assert '"/checkin"' in text
    assert not re.search(r"/waive|/schedule|/standing|/healthz|/metrics|/wechat\b|/sms/", text)
    # fetch is called in one place (the api helper), so every call goes through the list above
    assert text.count("fetch(") == 1


def test_js_uses_only_ids_that_exist(page: Page) -> None:
    text = JS.read_text(encoding="utf-8")
    used = set(re.findall(r"""\$\(\s*"([\w-]+)"\s*\)""", text))
    assert used, "no $(id) lookups found"
    assert used <= set(page.ids()), used - set(page.ids())


def test_js_never_injects_html() -> None:
    text = JS.read_text(encoding="utf-8")
    assert "innerHTML" not in text
    assert "outerHTML" not in text
    assert "insertAdjacentHTML" not in text
    assert "document.write" not in text
    assert "eval(" not in text


def test_clock_set_sends_an_offset_and_the_staff_calls_carry_the_token() -> None:
    text = JS.read_text(encoding="utf-8")
    assert 'DEFAULT_OFFSET = "+08:00"' in text
    assert "set: value + state.offset" in text
    assert 'headers.Authorization = "Bearer " + state.token' in text
    assert "advance_minutes: 60" in text and "advance_minutes: 1440" in text


def test_css_stacks_on_narrow_screens() -> None:
    text = CSS.read_text(encoding="utf-8")
    assert re.search(r"@media\s*\(max-width:\s*\d+px\)", text)
    assert "prefers-reduced-motion" in text
    assert ":focus-visible" in text


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_parses() -> None:
    result = subprocess.run(["node", "--check", str(JS)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_a_staff_token_not_shown_by_the_server_is_asked_for(page: Page) -> None:
    tag, attrs = page.by_id("staff-token")
    assert tag == "input" and attrs["type"] == "password" and attrs["autocomplete"] == "off"
    assert "hidden" in page.by_id("staff-token-form")[1], "hidden until /simulator/info gives no token"
    text = JS.read_text(encoding="utf-8")
    assert "if (info.staff_token) state.token = info.staff_token;" in text, "a typed token survives info polls"
    assert "form.hidden = Boolean(state.token);" in text, "asked for while there is none"
    assert 'input.value = ""; // never shown back' in text, "the typed token is cleared from the field at once"
    assert 'sessionStore("staffToken", typed);' in text, "kept for this browser session (tab) only"
    assert not re.search(r"(?<!session)[sS]tore\([^)]*[tT]oken", text), "never in localStorage"
