"""The text catalogs: every key in both languages, with the same placeholders, and short enough for SMS lists."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime

import pytest

from texts import CATALOG, text
from texts.format import day, moment, money, visit


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    zh, en = CATALOG[key]
    assert zh.strip() and en.strip(), key
    assert placeholders(zh) == placeholders(en), key


def test_unknown_language_falls_back_to_chinese() -> None:
    assert text("fr", "common.left_step") == text("zh", "common.left_step")


def test_every_word_read_is_in_the_catalog() -> None:
    """The pushed notices, the SMS adapter's answers, the code's SMS and the calendar words are catalog texts."""
    for prefix in ("notice.", "sms.", "otp.", "calendar."):
        assert any(key.startswith(prefix) for key in CATALOG), prefix


@pytest.mark.parametrize(
    ("cents", "zh", "en"),
    [
        (0, "¥0", "¥0"),
        (5, "¥0.05", "¥0.05"),
        (500, "¥5", "¥5"),
        (1250, "¥12.50", "¥12.50"),
        (4000, "¥40", "¥40"),
        (30000, "¥300", "¥300"),
        (123456, "¥1234.56", "¥1234.56"),
        (-250, "¥-2.50", "¥-2.50"),
        (-300, "¥-3", "¥-3"),
    ],
)
def test_money_has_one_form(cents: int, zh: str, en: str) -> None:
    assert (money(cents, "zh"), money(cents, "en")) == (zh, en)


@pytest.mark.parametrize(
    ("lang", "visit_text", "start_only", "plain", "long", "deadline"),
    [
        ("zh", "11月24日 周二 08:00-12:00", "11月24日 周二 08:00", "11月24日", "2027年2月25日", "11月23日 周一 15:00"),
        ("en", "Tue 24 Nov 08:00-12:00", "Tue 24 Nov 08:00", "24 Nov", "25 Feb 2027", "Mon 23 Nov 15:00"),
    ],
)
def test_days_and_times_have_one_form(
    lang: str, visit_text: str, start_only: str, plain: str, long: str, deadline: str
) -> None:
    assert visit("2026-11-24", "08:00", lang, "12:00") == visit_text
    assert visit(date(2026, 11, 24), "08:00", lang) == start_only
    assert day(date(2026, 11, 24), lang, weekday=False) == plain
    assert day(date(2027, 2, 25), lang, weekday=False, year=True) == long
    assert moment(datetime(2026, 11, 23, 15, 0, tzinfo=UTC), lang) == deadline
    new_year = {"zh": "2027年1月1日 周五 09:30", "en": "Fri 1 Jan 2027 09:30"}[lang]
    assert moment(datetime(2027, 1, 1, 9, 30, tzinfo=UTC), lang, year=True) == new_year
