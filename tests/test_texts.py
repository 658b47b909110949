"""The text catalogs: every key in both languages, with the same placeholders, and short enough for SMS lists."""

from __future__ import annotations

import string

import pytest

from texts import CATALOG, text


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    zh, en = CATALOG[key]
    assert zh.strip() and en.strip(), key
    assert placeholders(zh) == placeholders(en), key


def test_unknown_language_falls_back_to_chinese() -> None:
    assert text("fr", "common.left_step") == text("zh", "common.left_step")
