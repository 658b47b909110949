"""dialogs.parse and dialogs.parse_dates: what a patient typed, in Chinese or English, full-width or not, relative
to a fixed today."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogs.parse import (
    Command,
    Match,
    MatchKind,
    Option,
    extract_digits,
    match_option,
    normalize,
    parse_command,
    parse_number,
    parse_yes_no,
)
from dialogs.parse_dates import parse_date

TODAY = date(2026, 11, 23)  # a Monday
assert TODAY.weekday() == 0

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
HALF_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


# --- normalize ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  3。", "3"),
        ("３", "3"),
        ("ＭＥＮＵ", "menu"),
        ("Ｈｅｌｌｏ\u3000Ｗｏｒｌｄ！", "hello world"),
        ("  a   b\t\nc  ", "a b c"),
        ("“心血管内科”", "心血管内科"),
        ("「是」", "是"),
        ("好的！！", "好的"),
        ("真的吗？", "真的吗"),
        ("，、；3；", "3"),
        ("Yes.", "yes"),
        ("'ok'", "ok"),
        ("1\u200b2", "12"),
        ("\ufeff菜单", "菜单"),
        ("第 3 个", "第 3 个"),
        ("2026-11-25", "2026-11-25"),
        ("心血管 内科", "心血管 内科"),
        ("ÄBC", "Äbc"),  # only ASCII letters are lower-cased
        ("", ""),
        ("。。。", ""),
        ("   ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


# --- numbers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("３", 3),
        (" 3 ", 3),
        ("3.", 3),
        ("3。", 3),
        ("  3。", 3),
        ("(3", None),
        ("「3」", 3),
        ("１２", 12),
        ("03", 3),
        ("0", 0),
        ("第3", 3),
        ("第3个", 3),
        ("第 3 个", 3),
        ("3个", 3),
        ("第三项", 3),
        ("三", 3),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("九十九", 99),
        ("零", 0),
        ("十十", None),
        ("二二", None),
        ("一百", None),
        ("十零", None),
        ("零十", None),
        ("①", 1),  # NFKC makes circled digits plain
        ("-3", None),
        ("3.5", None),
        ("3 4", None),
        ("3a", None),
        ("a3", None),
        ("三号", None),
        ("第", None),
        ("", None),
        ("1" * 10, None),
        ("1" * 5000, None),  # never Python's int conversion limit
        ("٣", None),  # other scripts' digits are not answers
    ],
)
def test_parse_number(text: str, expected: int | None) -> None:
    assert parse_number(text) == expected


CN_DIGITS = "零一二三四五六七八九"


def chinese(number: int) -> str:
    """0..99 in Chinese numerals, written independently of the parser."""
    tens, units = divmod(number, 10)
    if not tens:
        return CN_DIGITS[units]
    return ("十" if tens == 1 else CN_DIGITS[tens] + "十") + (CN_DIGITS[units] if units else "")


@given(st.integers(min_value=0, max_value=99))
def test_chinese_numerals_round_trip(number: int) -> None:
    assert parse_number(chinese(number)) == number
    assert parse_number(f"第{chinese(number)}个") == number


@given(
    st.integers(min_value=0, max_value=999_999_999),
    st.booleans(),
    st.sampled_from(["", " ", "\u3000", "  "]),
    st.sampled_from(["", "。", ".", "!", "！", "?", "？", "，"]),
)
def test_numbers_survive_width_space_and_punctuation(number: int, full_width: bool, space: str, tail: str) -> None:
    digits = str(number).translate(FULL_WIDTH) if full_width else str(number)
    assert parse_number(f"{space}{digits}{tail}{space}") == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123456", "123456"),
        ("１２３４５６", "123456"),
        ("验证码：123 456。", "123456"),
        ("code is 98-76-54", "987654"),
        ("٣٤", "34"),
        ("no digits", ""),
        ("", ""),
    ],
)
def test_extract_digits(text: str, expected: str) -> None:
    assert extract_digits(text) == expected


@given(st.text(alphabet="0123456789０１２３４５６７８９ -。,，abc验证码", max_size=30))
def test_extract_digits_keeps_every_digit_in_order(text: str) -> None:
    assert extract_digits(text) == "".join(c for c in text.translate(HALF_WIDTH) if c.isdigit())


# --- options -----------------------------------------------------------------------------------------------------

DEPARTMENTS = [
    Option("心血管内科", "cardio", ("Cardiology",)),
    Option("神经内科", "neuro"),
    Option("普通外科", "surgery"),
]
ENGLISH = [Option("Cardiac Surgery", 1), Option("Cardiology", 2), Option("Neurology", 3), Option("Pediatrics", 4)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        # by position, however the number is written
        ("1", MatchKind.NUMBER, "cardio"),
        ("２", MatchKind.NUMBER, "neuro"),
        ("  3。", MatchKind.NUMBER, "surgery"),
        ("3.", MatchKind.NUMBER, "surgery"),
        ("第2个", MatchKind.NUMBER, "neuro"),
        ("三", MatchKind.NUMBER, "surgery"),
        ("2. 神经内科", MatchKind.NUMBER, "neuro"),  # the shown line pasted back
        ("2、神经内科", MatchKind.NUMBER, "neuro"),
        # out of range: nothing, never a fragment
        ("0", MatchKind.NONE, None),
        ("4", MatchKind.NONE, None),
        ("４", MatchKind.NONE, None),
        ("99", MatchKind.NONE, None),
        ("1. 神经内科", MatchKind.NONE, None),  # number and label disagree
        # exact label or alias, normalized
        ("心血管内科", MatchKind.EXACT, "cardio"),
        (" 普通外科。", MatchKind.EXACT, "surgery"),
        ("“神经内科”", MatchKind.EXACT, "neuro"),
        ("cardiology", MatchKind.EXACT, "cardio"),
        ("ＣＡＲＤＩＯＬＯＧＹ", MatchKind.EXACT, "cardio"),
        # partial: Chinese characters in order
        ("心内", MatchKind.PARTIAL, "cardio"),
        ("心血管", MatchKind.PARTIAL, "cardio"),
        ("神经", MatchKind.PARTIAL, "neuro"),
        ("神内", MatchKind.PARTIAL, "neuro"),
        ("外科", MatchKind.PARTIAL, "surgery"),
        ("外", MatchKind.PARTIAL, "surgery"),
        ("心 内", MatchKind.PARTIAL, "cardio"),
        ("cardio", MatchKind.PARTIAL, "cardio"),  # Latin substring of an alias
        # ambiguous and none
        ("内科", MatchKind.AMBIGUOUS, None),
        ("内", MatchKind.AMBIGUOUS, None),
        ("科", MatchKind.AMBIGUOUS, None),
        ("内心", MatchKind.NONE, None),  # characters out of order
        ("眼科", MatchKind.NONE, None),
        ("xyz", MatchKind.NONE, None),
        ("", MatchKind.NONE, None),
        ("。", MatchKind.NONE, None),
    ],
)
def test_match_department(text: str, kind: MatchKind, value: str | None) -> None:
    match = match_option(text, DEPARTMENTS)
    assert (match.kind, match.value) == (kind, value)
    assert match.ok == (kind in (MatchKind.NUMBER, MatchKind.EXACT, MatchKind.PARTIAL))
    if match.ok:
        assert [option.value for option in match.candidates] == [value]
    elif kind is MatchKind.NONE:
        assert match.candidates == ()


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("内科", ["cardio", "neuro"]),
        ("内", ["cardio", "neuro"]),
        ("科", ["cardio", "neuro", "surgery"]),
    ],
)
def test_ambiguous_lists_candidates_in_order(text: str, candidates: list[str]) -> None:
    match = match_option(text, DEPARTMENTS)
    assert match.kind is MatchKind.AMBIGUOUS
    assert match.value is None
    assert [option.value for option in match.candidates] == candidates


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("cardiology", MatchKind.EXACT, 2),
        ("Cardiac Surgery", MatchKind.EXACT, 1),
        ("cardiac  surgery!", MatchKind.EXACT, 1),
        ("surg", MatchKind.PARTIAL, 1),
        ("card surg", MatchKind.PARTIAL, 1),  # word prefixes in order
        ("C S", MatchKind.PARTIAL, 1),
        ("NEURO", MatchKind.PARTIAL, 3),
        ("ped", MatchKind.PARTIAL, 4),
        ("p", MatchKind.PARTIAL, 4),  # one letter: a word's start only, not "surgery"'s or "pediatrics"' middle
        ("card", MatchKind.AMBIGUOUS, None),
        ("logy", MatchKind.AMBIGUOUS, None),
        ("c", MatchKind.AMBIGUOUS, None),
        ("surg card", MatchKind.NONE, None),  # words out of order
        ("x", MatchKind.NONE, None),
        ("5", MatchKind.NONE, None),
        ("4", MatchKind.NUMBER, 4),
    ],
)
def test_match_english(text: str, kind: MatchKind, value: int | None) -> None:
    match = match_option(text, ENGLISH)
    assert (match.kind, match.value) == (kind, value)


def test_exact_beats_partial_and_duplicates_are_ambiguous() -> None:
    options = [Option("内科", "a"), Option("心血管内科", "b")]
    assert match_option("内科", options) == Match("a", (options[0],), MatchKind.EXACT)
    twins = [Option("儿科", 1), Option("儿科", 2), Option("眼科", 3)]
    assert match_option("儿科", twins) == Match(None, (twins[0], twins[1]), MatchKind.AMBIGUOUS)


def test_mixed_latin_and_chinese_labels() -> None:
    options = [Option("B超室", "us"), Option("CT室", "ct"), Option("MRI 检查", "mri")]
    assert match_option("b超", options).value == "us"
    assert match_option("ct", options).value == "ct"
    assert match_option("mri检查", options).value == "mri"
    assert match_option("室", options).kind is MatchKind.AMBIGUOUS


def test_no_options() -> None:
    assert match_option("1", []).kind is MatchKind.NONE
    assert match_option("内科", []).kind is MatchKind.NONE


def test_value_none_is_still_a_choice() -> None:
    options: list[Option[None]] = [Option("不指定医生", None), Option("张医生", None)]
    match = match_option("1", options)
    assert match.ok and match.value is None and match.candidates == (options[0],)


LABEL = st.text(alphabet="心血管内科神经普通外儿眼abcdeXYZ 123-·", min_size=1, max_size=8)


def usable_labels(labels: list[str]) -> bool:
    """Distinct once normalized, not empty, and not readable as a position number (which selects by position)."""
    keys = [normalize(label) for label in labels]
    return all(keys) and len(set(keys)) == len(keys) and all(parse_number(label) is None for label in labels)


@given(st.lists(LABEL, min_size=1, max_size=12).filter(usable_labels), st.data())
def test_number_selects_by_position_and_exact_label_selects_itself(labels: list[str], data: st.DataObject) -> None:
    options = [Option(label, index) for index, label in enumerate(labels)]
    index = data.draw(st.integers(min_value=0, max_value=len(options) - 1))
    assert match_option(str(index + 1), options) == Match(index, (options[index],), MatchKind.NUMBER)
    assert match_option(str(index + 1).translate(FULL_WIDTH) + "。", options).value == index
    assert match_option(labels[index], options) == Match(index, (options[index],), MatchKind.EXACT)
    assert match_option(str(len(options) + 1), options).kind is MatchKind.NONE


# --- dates -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # full dates, any year (whether it can be booked is the caller's question)
        ("2026-11-25", date(2026, 11, 25)),
        ("２０２６－１１－２５", date(2026, 11, 25)),
        ("2026/11/25", date(2026, 11, 25)),
        ("2026.11.25", date(2026, 11, 25)),
        ("2026.1.5", date(2026, 1, 5)),
        ("2027-1-5", date(2027, 1, 5)),
        ("2025-01-01", date(2025, 1, 1)),
        ("2026年11月25日", date(2026, 11, 25)),
        (" 2026 年 11 月 25 日。", date(2026, 11, 25)),
        ("2026-11/25", None),  # mixed separators
        ("2026-02-30", None),
        ("2026-13-01", None),
        ("2028-02-29", date(2028, 2, 29)),
        ("2027-02-29", None),
        # month and day: the next occurrence on or after today, unless it passed within 60 days (then that past day)
        ("11月25日", date(2026, 11, 25)),
        ("11月25号", date(2026, 11, 25)),
        ("11月25", date(2026, 11, 25)),
        ("１１月２５日", date(2026, 11, 25)),
        ("11 月 25 日", date(2026, 11, 25)),
        ("十一月二十五日", date(2026, 11, 25)),
        ("11月23日", date(2026, 11, 23)),  # today itself
        ("11月22日", date(2026, 11, 22)),  # yesterday: yesterday (the dialog says it passed), not next year
        ("9月30日", date(2026, 9, 30)),  # 54 days ago: still that day
        ("9月20日", date(2027, 9, 20)),  # 64 days ago: next year's
        ("1月5日", date(2027, 1, 5)),
        ("12月31日", date(2026, 12, 31)),
        ("11-25", date(2026, 11, 25)),
        ("11/25", date(2026, 11, 25)),
        ("11.25", date(2026, 11, 25)),
        ("1-5", date(2027, 1, 5)),
        ("25/11", None),  # day/month is not read
        ("2月30日", None),
        ("2月29日", None),  # neither 2026 nor 2027 has one
        ("4月31日", None),
        ("13月1日", None),
        ("0月1日", None),
        ("11月0日", None),
        ("11月32日", None),
        # day of month alone
        ("25号", date(2026, 11, 25)),
        ("25日", date(2026, 11, 25)),
        ("23号", date(2026, 11, 23)),
        ("1号", date(2026, 12, 1)),
        ("22号", date(2026, 12, 22)),
        ("31号", date(2026, 12, 31)),  # November has no 31st
        ("三十号", date(2026, 11, 30)),
        ("32号", None),
        ("二二号", None),  # not a Chinese numeral
        ("十十月1日", None),
        # relative
        ("今天", TODAY),
        ("今日", TODAY),
        ("today", TODAY),
        ("Today!", TODAY),
        ("明天", date(2026, 11, 24)),
        ("明天。", date(2026, 11, 24)),
        ("tomorrow", date(2026, 11, 24)),
        ("TOMORROW", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("day after tomorrow", date(2026, 11, 25)),
        ("the  day after tomorrow", date(2026, 11, 25)),
        ("大后天", date(2026, 11, 26)),
        # weekdays: strictly after today (a Monday)
        ("周三", date(2026, 11, 25)),
        ("星期三", date(2026, 11, 25)),
        ("礼拜三", date(2026, 11, 25)),
        ("週三", date(2026, 11, 25)),
        ("周 三", date(2026, 11, 25)),
        ("周二", date(2026, 11, 24)),
        ("周日", date(2026, 11, 29)),
        ("星期天", date(2026, 11, 29)),
        ("星期日", date(2026, 11, 29)),
        ("礼拜天", date(2026, 11, 29)),
        ("周一", date(2026, 11, 30)),  # today is Monday: next week's
        ("下周三", date(2026, 12, 2)),
        ("下周一", date(2026, 11, 30)),
        ("下星期日", date(2026, 12, 6)),
        ("wed", date(2026, 11, 25)),
        ("Wed.", date(2026, 11, 25)),
        ("wednesday", date(2026, 11, 25)),
        ("WEDNESDAY", date(2026, 11, 25)),
        ("thurs", date(2026, 11, 26)),
        ("sun", date(2026, 11, 29)),
        ("monday", date(2026, 11, 30)),
        ("周八", None),
        ("星期", None),
        # a date as the bot lists it, weekday included: it must agree
        ("11月25日(周三)", date(2026, 11, 25)),
        ("11月25日（周三）", date(2026, 11, 25)),
        ("11月25日 星期三", date(2026, 11, 25)),
        ("2026-11-25 周三", date(2026, 11, 25)),
        ("11月25日 周四", None),
        # English month names
        ("Nov 25", date(2026, 11, 25)),
        ("nov. 25", date(2026, 11, 25)),
        ("November 25", date(2026, 11, 25)),
        ("25 November", date(2026, 11, 25)),
        ("25th Nov", date(2026, 11, 25)),
        ("25th of November", date(2026, 11, 25)),
        ("November 25, 2027", date(2027, 11, 25)),
        ("25 Nov 2027", date(2027, 11, 25)),
        ("Jan 5", date(2027, 1, 5)),
        ("Sept 1", date(2027, 9, 1)),
        ("Feb 30", None),
        ("Foo 3", None),
        # not dates
        ("3", None),  # a bare number means an option only when choices are listed
        ("", None),
        ("明天下午", None),
        ("我想明天去", None),
        ("yesterday", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY) == expected


CHOICES = [TODAY + timedelta(days=offset) for offset in range(1, 8)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", CHOICES[0]),
        ("７", CHOICES[6]),
        (" 3。", CHOICES[2]),
        ("第二个", CHOICES[1]),
        ("三", CHOICES[2]),
        ("0", None),
        ("8", None),
        ("25", None),
        ("明天", date(2026, 11, 24)),  # other forms still work with choices
        ("12月25日", date(2026, 12, 25)),  # returned even when not among the choices: the caller decides
        ("25号", date(2026, 11, 25)),
    ],
)
def test_parse_date_with_choices(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY, CHOICES) == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (date(2026, 12, 28), "1月5日", date(2027, 1, 5)),  # year rollover
        (date(2026, 12, 28), "1-5", date(2027, 1, 5)),
        (date(2026, 12, 28), "Jan 5", date(2027, 1, 5)),
        (date(2026, 12, 28), "12月28日", date(2026, 12, 28)),
        (date(2026, 12, 28), "3号", date(2027, 1, 3)),
        (date(2026, 12, 31), "明天", date(2027, 1, 1)),
        (date(2027, 1, 31), "30号", date(2027, 3, 30)),  # February has no 30th
        (date(2027, 1, 31), "29号", date(2027, 3, 29)),  # nor, in 2027, a 29th
        (date(2028, 1, 31), "29号", date(2028, 2, 29)),
        (date(2027, 11, 1), "2月29日", date(2028, 2, 29)),  # next occurrence is in a leap year
        (date(2028, 3, 1), "2月29日", date(2028, 2, 29)),  # yesterday: past, not "none"
        (date(2028, 6, 1), "2月29日", None),  # 2028's is long past, 2029 has none
        (date(2026, 12, 2), "11月25日", date(2026, 11, 25)),  # issue 13: a week ago, never next year's
        (date(2026, 12, 2), "12/5", date(2026, 12, 5)),
        (date(2026, 12, 2), "next wednesday", date(2026, 12, 9)),
        (date(2026, 12, 2), "这周五", date(2026, 12, 4)),
        (date(2026, 11, 25), "周三", date(2026, 12, 2)),  # on a Wednesday, 周三 is a week away
        (date(2026, 11, 25), "wed", date(2026, 12, 2)),
        (date(2026, 11, 25), "周四", date(2026, 11, 26)),
        (date(2026, 11, 25), "下周三", date(2026, 12, 2)),
        (date(2026, 11, 29), "周一", date(2026, 11, 30)),  # on a Sunday
        (date(2026, 11, 29), "下周一", date(2026, 11, 30)),
        (date(2026, 11, 29), "周日", date(2026, 12, 6)),
    ],
)
def test_parse_date_relative_to_today(today: date, text: str, expected: date | None) -> None:
    assert parse_date(text, today) == expected


def test_friday_after_new_years_eve() -> None:
    assert date(2026, 12, 31).weekday() == 3
    assert parse_date("周五", date(2026, 12, 31)) == date(2027, 1, 1)


DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
WEEKDAYS_CN = "一二三四五六日"


@given(DATES, st.integers(min_value=0, max_value=300))
def test_month_and_day_find_any_date_of_the_coming_year(today: date, offset: int) -> None:
    """Within 300 days ahead (further ahead, the same day 60 days past is the nearer meaning)."""
    target = today + timedelta(days=offset)
    assert parse_date(f"{target.month}月{target.day}日", today) == target
    assert parse_date(f"{target.month}/{target.day}", today) == target
    assert parse_date(target.isoformat(), today) == target
    assert parse_date(f"{target.year}.{target.month}.{target.day}", today) == target


@given(DATES, st.integers(min_value=0, max_value=6))
def test_weekday_is_within_the_next_seven_days(today: date, weekday: int) -> None:
    found = parse_date(f"周{WEEKDAYS_CN[weekday]}", today)
    assert found is not None and found.weekday() == weekday
    assert today < found <= today + timedelta(days=7)
    following = parse_date(f"下周{WEEKDAYS_CN[weekday]}", today)
    assert following is not None and following.weekday() == weekday
    assert following.isocalendar()[:2] == (today + timedelta(days=7)).isocalendar()[:2]


# --- yes/no ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["是", "是的", "是。", "确认", "确定", "好", "好的！", "对", "y", "Y", "ｙ", "yes", "YES", "Yes!", "ok"]
    + ["OK", " 确认 ", "“是”", "可以"],
)
def test_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", ["否", "不", "不是", "不是。", "n", "N", "no", "No!", "ＮＯ", " 否 "])
def test_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    ["1", "１", "2", "２", "取消", "cancel", "CANCEL", "3", "0"]
    + ["", "是不是", "yes no", "yess", "不好说", "一", "二", "菜单", "maybe"],
)
def test_neither_yes_nor_no(text: str) -> None:
    assert parse_yes_no(text) is None


# --- commands ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("菜单", Command.MENU),
        ("主菜单", Command.MENU),
        ("返回", Command.MENU),
        ("menu", Command.MENU),
        ("MENU", Command.MENU),
        ("Menu。", Command.MENU),
        ("ＭＥＮＵ", Command.MENU),
        (" 菜单！", Command.MENU),
        ("帮助", Command.HELP),
        ("help", Command.HELP),
        ("Help?", Command.HELP),
        ("?", Command.HELP),
        ("？", Command.HELP),
        (" ？？ ", Command.HELP),
        ("退出", Command.EXIT),
        ("exit", Command.EXIT),
        ("EXIT", Command.EXIT),
        ("English", Command.ENGLISH),
        ("ENGLISH", Command.ENGLISH),
        ("英文", Command.ENGLISH),
        ("中文", Command.CHINESE),
        ("Chinese", Command.CHINESE),
        ("更多", Command.MORE),
        ("more", Command.MORE),
        ("More...", Command.MORE),
    ],
)
def test_command(text: str, expected: Command) -> None:
    assert parse_command(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "我要回到菜单",  # a command only as the whole message
        "菜单在哪里",
        "menu please",
        "help me",
        "I need help",
        "退出登录吗",
        "english please",
        "m",
        "quit",  # SPEC: never taught; over SMS Twilio treats it as an opt-out
        "cancel",
        "取消",
        "end",
        "1",
        "",
        "。",
        "?!",
    ],
)
def test_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def test_command_values_are_stable_strings() -> None:
    assert [command.value for command in Command] == ["menu", "help", "exit", "english", "chinese", "more"]
