"""docs/operators.md stays true: its staff API table is the one the OpenAPI document gives (regenerate it with
``python -m adapters.staff.endpoint_table docs/operators.md``), its examples are accepted by the code (the hospitals
TOML builds a configuration, the schedule CSV imports against config.example.toml), and the README links it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from adapters.staff.endpoint_table import BEGIN, END, endpoint_table, with_table
from bot.config import build_config, load_config
from bot.schedule import parse_schedule_csv

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "operators.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def test_the_endpoint_table_is_the_openapi_documents() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert text == with_table(text), "run: python -m adapters.staff.endpoint_table docs/operators.md"
    table = text[text.index(BEGIN) : text.index(END)]
    assert "`GET /api/staff/appointments`" in table and "`GET /fhir/Slot`" in table


def test_the_table_follows_the_document() -> None:
    """A new endpoint in the document is a new row (so the guide test fails until the guide is regenerated)."""
    from adapters.staff.docs import openapi_document

    document = openapi_document()
    grown = {**document, "paths": {**document["paths"], "/api/staff/waitlist": {"get": {
        "summary": "Waitlist entries", "responses": {"200": {"description": "ok"}}}}}}  # fmt: skip
    assert "`GET /api/staff/waitlist` | Waitlist entries" in endpoint_table(grown)
    assert endpoint_table(grown) != endpoint_table(document)


def test_the_hospitals_example_is_a_valid_configuration() -> None:
    [hospitals] = [b for b in blocks("toml") if "[[hospitals]]" in b]
    config = build_config(tomllib.loads(hospitals))
    assert [h.id for h in config.hospitals] == ["bjdyyy"]
    department = config.hospitals[0].department("ek")
    assert department is not None and department.limits.age_max == 14


def test_the_schedule_example_imports_against_the_example_configuration() -> None:
    [csv] = blocks("csv")
    rows = parse_schedule_csv(csv, load_config(ROOT / "config.example.toml"))
    assert len(rows) == 3 and rows[0].doctor_name == "李娜"


def test_the_readme_links_the_guide_and_the_guide_names_every_section() -> None:
    assert "(docs/operators.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    text = GUIDE.read_text(encoding="utf-8")
    for section in tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8")):
        assert f"[{section}]" in text or f"`{section}`" in text or f"[[{section}]]" in text, section
    named = ("GUAHAO_CONFIG", "check-config", "doctor_name", "name_en", "age_max", "/healthz", "/metrics")
    named += ("appendonlydir", "secret_key", "reminder_template_id", "wechat-qrcode", "calendar_base_url")
    for must in named:
        assert must in text, must
