"""Names of hospitals, departments and doctors as a conversation shows them: the English name in English when one
is given, else the Chinese name spelled in pinyin (an English reader cannot read 心血管内科, but can say Xinxueguanneike
to a nurse); the Chinese name in Chinese."""

from __future__ import annotations

import re

from pypinyin import lazy_pinyin

HAN = re.compile(r"[\u3400-\u9fff]")


def name_in(lang: str, name: str, name_en: str = "", *, person: bool = False) -> str:
    """``name`` for a ``lang`` conversation; a person's pinyin is written surname first, apart (``Li Na``)."""
    if lang != "en":
        return name
    if name_en:
        return name_en
    if not HAN.search(name):
        return name
    syllables = lazy_pinyin(name)
    if person and len(syllables) > 1:
        return f"{syllables[0].capitalize()} {''.join(syllables[1:]).capitalize()}"
    return "".join(syllables).capitalize()  # one word, as pinyin writes 内科 (Neike): no word breaks are known
