"""The simulator page speaks one language at a time (issue 13 / issue 17 part 6): every message the page writes
itself comes from one catalog with a Chinese and an English text (same placeholders), every label of the staff desk
is taken from it, and no staff message is a raw ``HTTP 409 CONFLICT`` or a bilingual "中文 · English" line.
The info the page reads carries the English names and whether messages only land in the outbox.
Fast checks on the files and the Flask app; the behaviour in a browser is tests/test_browser_staff_desk.py."""

from __future__ import annotations

import re
from typing import Any

import redis

from app.web import create_app
from bot.clock import RedisClock
from bot.config import build_config
from bot.notifications.outbox import OutboxKind
from tests.support import CONFIG_RAW, STAFF_TOKEN, make_services
from tests.test_simulator_page import CSS, HTML, JS

SOURCE = JS.read_text(encoding="utf-8")
ENTRY = re.compile(r'^\s*"([a-z_]+\.[a-z_]+)": \[\s*("(?:[^"\\]|\\.)*"),\s*("(?:[^"\\]|\\.)*"),?\s*\],?$', re.M)


def catalog() -> dict[str, tuple[str, str]]:
    block = SOURCE[SOURCE.index("var TEXTS = {") : SOURCE.index("var LANGS")]
    return {m[1]: (m[2], m[3]) for m in ENTRY.finditer(block)}


def test_every_text_in_both_languages_with_the_same_placeholders() -> None:
    texts = catalog()
    block = SOURCE[SOURCE.index("var TEXTS = {") : SOURCE.index("var LANGS")]
    assert len(texts) == block.count('": ['), "every entry is read (one key, a Chinese and an English text)"
    assert len(texts) > 60
    for key, (zh, en) in texts.items():
        assert zh.strip('"') and en.strip('"'), key
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: the first text is Chinese"
        # English quotes the Chinese words a patient types (Send 菜单 (menu)), nothing else in Chinese
        assert not re.search(r"[\u4e00-\u9fff]", re.sub(r"\S+ \((?:menu|BOOK|HELP)\)", "", en)), key
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", en)), key


def test_every_key_the_page_uses_is_in_the_catalog() -> None:
    texts = catalog()
    used = set(re.findall(r'\bt\("([a-z_]+\.[a-z_]+)"', SOURCE))
    used |= set(re.findall(r'data-t(?:-placeholder|-label)?="([a-z_]+\.[a-z_]+)"', HTML.read_text(encoding="utf-8")))
    assert used and not used - texts.keys(), sorted(used - texts.keys())


def test_every_kind_the_outbox_holds_has_its_label_in_both_languages_and_its_badge() -> None:
    texts = catalog()
    styles = CSS.read_text(encoding="utf-8")
    unlabelled = [kind.value for kind in OutboxKind if f"kind.{kind.value}" not in texts]
    assert not unlabelled, f"outbox kinds without a label on the simulator page: {unlabelled}"
    unstyled = [kind.value for kind in OutboxKind if f".badge-{kind.value} {{" not in styles]
    assert not unstyled, f"outbox kinds without a badge style: {unstyled}"


def test_no_staff_message_is_a_raw_status_or_two_languages_at_once() -> None:
    errors = re.findall(r'showError\("(?:staff|broadcast|clock)-error", ([^;]*)\);', SOURCE)
    assert errors
    for argument in errors:
        assert argument == '""' or "t(" in argument or "staffFailure(" in argument or argument == "message", argument
    assert '"HTTP " + response.status' not in SOURCE, "a status code is never the message"
    two_at_once = re.compile(r"[\u4e00-\u9fff][^·]* · [^·\u4e00-\u9fff]*[A-Za-z]{3,}")  # "中文 · English"
    assert not [zh for zh, _ in catalog().values() if two_at_once.search(zh)]


def test_info_gives_english_names_and_whether_messages_only_land_in_the_outbox(redis_db: redis.Redis) -> None:
    raw: dict[str, Any] = {**CONFIG_RAW, "server": {"simulator": True}}
    raw["hospitals"] = [
        {"id": "xh", "name": "协和示例医院", "name_en": "Xiehe Example Hospital",
         "departments": [{"id": "xnk", "name": "心血管内科", "name_en": "Cardiology"}]},
    ]  # fmt: skip
    for sms, push, only in (("console", "console", True), ("twilio", "console", False)):
        config = build_config({**raw, "sms": {**raw.get("sms", {}), "provider": sms}, "wechat": {"push": push}})
        http = create_app(make_services(redis_db, config, RedisClock(redis_db))).test_client()
        info = http.get("/simulator/info").get_json()
        assert info["outbox_only"] is only
        [hospital] = info["hospitals"]
        assert hospital["name_en"] == "Xiehe Example Hospital"
        assert hospital["departments"] == [{"id": "xnk", "name": "心血管内科", "name_en": "Cardiology"}]
        assert info["staff_token"] == "" and STAFF_TOKEN not in http.get("/simulator/info").get_data(as_text=True)
