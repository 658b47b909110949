"""Names of hospitals, departments and doctors as a conversation shows them: the English name in English when one
is given, else the Chinese name spelled in pinyin with word breaks as people write them (an English reader cannot
read 心血管内科, but can say Xinxueguan Neike to a nurse); the Chinese name in Chinese.

Word breaks follow the Chinese pinyin orthography (GB/T 16159): a person is surname and given name, apart and each
capitalised (``Li Na``, ``Ouyang Nana``; surnames read as surnames: 单 Shan, 曾 Zeng); an institution's name is
written word by word, each word capitalised, its generic words apart (``Xinxueguan Neike``, ``Beijing Xiehe
Yiyuan``). The words come from jieba's dictionary (``rjieba``); pypinyin's own segmentation only knows the phrases
it needs for pronunciation and cuts 心血管 into 心血 + 管 (``Xinxue Guan Neike``), which no one reads. Then:

- a generic word at the end (内科, 外科, 医学科, 医院, 大学...) stands apart when two characters or more come
  before it (``Shenjing Neike``), so the part a nurse recognises comes first;
- a single character joins the word after it (``心胸外科`` → ``Xinxiong Waike``; ``心内科`` → ``Xinneike``,
  as the abbreviation is said), and 科 joins the word before it (``Pifuke``, ``Erke``);
- a syllable starting with a, o or e inside a word takes an apostrophe (``Xi'an``).
"""

from __future__ import annotations

import re
from functools import cache

import rjieba
from pypinyin import lazy_pinyin

HAN = re.compile(r"[\u3400-\u9fff]")
_HAN_RUNS = re.compile(r"([\u3400-\u9fff]+)")
_MASKED = re.compile(r"([\u3400-\u9fff]{1,2})(\*+)")

GENERIC = ("医学科", "内科", "外科", "医院", "医学院", "大学", "中心", "门诊")
"""Generic words of hospitals and departments, written apart from what names them (``Neike``, ``Yiyuan``)."""
STANDALONE = frozenset({"与", "和", "及"})
"""Single characters that are words by themselves (``Huxi yu Weizhongzheng Yixueke``)."""
_MEDICAL_WORDS = ("耳鼻咽喉", "头颈", "危重症", "颌面")
"""Words jieba's dictionary lacks, so 耳鼻咽喉头颈外科 is not cut as 耳鼻咽 + 喉头 + 颈外科."""
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文", "司徒", "夏侯",
    "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台", "公冶", "太史", "申屠", "万俟", "闻人", "濮阳",
    "钟离", "宗政", "东郭", "公羊", "赫连", "拓跋",
})  # fmt: skip
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou", "查": "zha", "翟": "zhai",
    "乐": "yue", "缪": "miao", "盖": "ge", "召": "shao", "种": "chong", "员": "yun", "覃": "qin", "尉迟": "yuchi",
    "万俟": "moqi", "长孙": "zhangsun", "宿": "su", "隗": "wei", "朝": "chao", "繁": "po",
}  # fmt: skip


def name_in(lang: str, name: str, name_en: str = "", *, person: bool = False) -> str:
    """``name`` for a ``lang`` conversation: as configured in Chinese; in English ``name_en``, else pinyin (a person
    ``Li Na``, an institution word by word, ``Xinxueguan Neike``)."""
    if lang != "en":
        return name
    if name_en:
        return name_en
    if not HAN.search(name):
        return name
    return person_pinyin(name) if person else institution_pinyin(name)


def _word(chinese: str, *, surname: bool = False) -> str:
    """One word in pinyin, capitalised, an apostrophe before a syllable starting with a, o or e (``Xi'an``)."""
    known = SURNAME_READINGS.get(chinese) if surname else None
    syllables = [known] if known else lazy_pinyin(chinese, v_to_u=True)
    word = syllables[0]
    for syllable in syllables[1:]:
        word += f"'{syllable}" if syllable[:1] in ("a", "o", "e") and word[-1:].isalpha() else syllable
    return word[:1].upper() + word[1:]


def person_pinyin(name: str) -> str:
    """A person's name: surname (one character, or a compound one such as 欧阳) and given name, apart; a masked
    name keeps its mask on the surname (``欧阳**`` → ``Ouyang**``)."""
    masked = _MASKED.fullmatch(name)
    if masked:
        return _word(masked[1], surname=True) + masked[2]
    if len(name) < 2:
        return _word(name, surname=True)
    cut = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return f"{_word(name[:cut], surname=True)} {_word(name[cut:])}"


@cache
def institution_pinyin(name: str) -> str:
    """A hospital's or department's name word by word (module docstring); cached: a handful of names, often."""
    if _MASKED.fullmatch(name):  # a patient's masked name (张*): a person's
        return person_pinyin(name)
    pieces = [  # runs of Chinese word by word; anything else (a letter, a number, brackets) as written
        " ".join(_word(w).lower() if w in STANDALONE else _word(w) for w in _words(run)) if HAN.match(run) else run
        for run in _HAN_RUNS.split(name)
    ]
    return " ".join(piece.strip() for piece in pieces if piece.strip())


def _words(name: str) -> list[str]:
    tokens = [t for t in _segmenter().cut(name) if t.strip()]
    merged: list[str] = []
    carry = ""
    for token in tokens:
        if token == "科" and merged:
            merged[-1] += token
        elif len(token) == 1 and HAN.match(token) and token not in STANDALONE:
            carry += token  # a single character leads the next word
        else:
            merged.append(carry + token)
            carry = ""
    if carry:
        merged.append(carry)
    return [part for word in merged for part in _split_generic(word)]


def _split_generic(word: str) -> list[str]:
    """``神经内科`` → ``神经``, ``内科``: a generic word at the end stands apart after two characters or more."""
    for generic in GENERIC:
        if word.endswith(generic) and len(word) - len(generic) >= 2:
            rest = word[: -len(generic)]
            parts = [t for t in _segmenter().cut(rest, False) if t.strip()]  # 北京协和 → 北京, 协和
            if len(parts) < 2 or min(len(p) for p in parts) < 2:
                parts = [rest]
            return [*(p for part in parts for p in _split_generic(part)), generic]
    return [word]


@cache
def _segmenter() -> rjieba.Jieba:
    """jieba's dictionary with the medical words it lacks (one instance, loaded on first use)."""
    segmenter = rjieba.Jieba()
    for word in _MEDICAL_WORDS:
        segmenter.add_word(word, None, None)
    return segmenter
