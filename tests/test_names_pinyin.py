"""Chinese names spelled for English conversations with word breaks as people write them (issue 13): a person is
surname and given name (compound surnames and surname readings known), an institution word by word with its
generic words apart; a masked patient name keeps its mask. Pure: no Redis."""

from __future__ import annotations

import pytest

from bot.names import name_in
from dialogs import parse


@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("李娜", "Li Na"),
        ("张伟", "Zhang Wei"),
        ("王", "Wang"),
        ("欧阳娜娜", "Ouyang Nana"),  # a compound surname
        ("诸葛亮", "Zhuge Liang"),
        ("司马相如", "Sima Xiangru"),
        ("单雄信", "Shan Xiongxin"),  # 单 read as a surname, not dan
        ("曾国藩", "Zeng Guofan"),  # not ceng
        ("吕布", "Lü Bu"),  # ü kept (GSM-7 has it), never "lv"
        ("欧阳**", "Ouyang**"),  # a masked patient: the mask stays on the surname
        ("张*", "Zhang*"),
    ],
)
def test_people_are_surname_and_given_name(chinese: str, english: str) -> None:
    assert name_in("en", chinese, person=True) == english


@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("心血管内科", "Xinxueguan Neike"),  # pypinyin's own cut would give Xinxue Guan Neike
        ("神经内科", "Shenjing Neike"),
        ("心内科", "Xinneike"),  # one character before the generic word: said as one word
        ("心胸外科", "Xinxiong Waike"),
        ("小儿内科", "Xiao'er Neike"),  # the apostrophe before a syllable starting with a vowel
        ("儿科", "Erke"),
        ("皮肤科", "Pifuke"),
        ("耳鼻咽喉头颈外科", "Erbiyanhou Toujing Waike"),  # words jieba lacks, added
        ("呼吸与危重症医学科", "Huxi yu Weizhongzheng Yixueke"),
        ("北京协和医院", "Beijing Xiehe Yiyuan"),
        ("北京儿童示范医院", "Beijing Ertong Shifan Yiyuan"),
        ("北京第一人民医院", "Beijing Diyi Renmin Yiyuan"),
        ("四川大学华西医院", "Sichuan Daxue Huaxi Yiyuan"),
        ("第二医院", "Di'er Yiyuan"),
        ("心血管内科 (A)", "Xinxueguan Neike (A)"),  # what is not Chinese is kept as written
    ],
)
def test_hospitals_and_departments_word_by_word(chinese: str, english: str) -> None:
    assert name_in("en", chinese) == english


def test_the_configured_english_name_and_chinese_conversations_win() -> None:
    assert name_in("en", "心血管内科", "Cardiology") == "Cardiology"
    assert name_in("zh", "心血管内科", "Cardiology") == "心血管内科"
    assert name_in("en", "dr-nk") == "dr-nk"
    assert name_in("en", "欧阳**") == "Ouyang**", "a masked name is a person's, whoever asks"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Xinxueguan Neike", "心血管内科"),
        ("xinxueguanneike", "心血管内科"),  # typed without the word break
        ("Xinxueguan", "心血管内科"),
        ("xiaoer neike", "小儿内科"),  # without the apostrophe
        ("xiaoerwaike", "小儿外科"),
    ],
)
def test_pinyin_labels_are_chosen_with_or_without_word_breaks(typed: str, expected: str) -> None:
    options = [parse.Option(name_in("en", n), n) for n in ("心血管内科", "小儿内科", "小儿外科")]
    match = parse.match_option(typed, options)
    assert match.ok and match.value == expected, (typed, match)
