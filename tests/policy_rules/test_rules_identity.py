"""Resident ID numbers, mobiles and masking."""

from __future__ import annotations

from datetime import date

import pytest

from rules import (
    IdCheck,
    id_check_digit,
    mask_id,
    mask_name,
    mask_personal,
    mask_phone,
    normalize_mobile,
    validate_id_number,
)


def make_id(region: str, born: str, sequence: str) -> str:
    first17 = region + born + sequence
    return first17 + id_check_digit(first17)


def test_known_check_digits() -> None:
    # The GB 11643-1999 textbook example and a few computed by hand.
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("44052418800101001") == "4"
    assert id_check_digit("00000000000000000") == "1"


@pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100a", "１２"])
def test_check_digit_needs_17_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="expected 17 digits"):
        id_check_digit(bad)


@pytest.mark.parametrize(
    ("raw", "normalized", "born"),
    [
        ("11010519491231002X", "11010519491231002X", date(1949, 12, 31)),
        ("11010519491231002x", "11010519491231002X", date(1949, 12, 31)),
        (" 110105 19491231 002x ", "11010519491231002X", date(1949, 12, 31)),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", date(1949, 12, 31)),
        (make_id("320581", "20000229", "123"), make_id("320581", "20000229", "123"), date(2000, 2, 29)),
        (make_id("320581", "19000101", "001"), make_id("320581", "19000101", "001"), date(1900, 1, 1)),
    ],
)
def test_valid_ids(raw: str, normalized: str, born: date) -> None:
    assert validate_id_number(raw, today=date(2024, 6, 1)) == IdCheck(True, None, normalized, born)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "length"),
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        ("1101051949123100X2", "length"),
        ("11010519491231002Y", "length"),
        ("A1010519491231002X", "length"),
        (make_id("320581", "19000229", "123"), "birth_date"),  # 1900 was not a leap year
        (make_id("320581", "20010229", "123"), "birth_date"),
        (make_id("320581", "20011301", "123"), "birth_date"),
        (make_id("320581", "20010100", "123"), "birth_date"),
        (make_id("320581", "18991231", "123"), "birth_date"),
        (make_id("320581", "20240602", "123"), "birth_date"),  # born after "today"
        ("110105194912310021", "check_digit"),
        ("110105194912310029", "check_digit"),
    ],
)
def test_invalid_ids(raw: str, reason: str) -> None:
    check = validate_id_number(raw, today=date(2024, 6, 1))
    assert (check.valid, check.reason, check.normalized) == (False, reason, None)


def test_future_birth_date_only_refused_when_today_is_given() -> None:
    future = make_id("320581", "20990101", "123")
    assert validate_id_number(future).valid
    assert validate_id_number(future, today=date(2098, 12, 31)).reason == "birth_date"
    assert validate_id_number(future, today=date(2099, 1, 1)).valid


def test_bad_check_digit_still_reports_the_birth_date() -> None:
    assert validate_id_number("110105194912310021").birth_date == date(1949, 12, 31)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        (" 138 1234 5678 ", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("(+86) 199-1234-5678", "+8619912345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ("＋８６１３８１２３４５６７８", "+8613812345678"),
        ("1381234567", None),
        ("138123456789", None),
        ("12812345678", None),
        ("23812345678", None),
        ("+8512812345678", None),
        ("+14155550100", None),
        ("86138123456", None),
        ("1381234567a", None),
        ("", None),
    ],
)
def test_normalize_mobile(raw: str, e164: str | None) -> None:
    assert normalize_mobile(raw) == e164


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010519491231123X", "110105********123X"),
        ("11010519491231123x", "110105********123X"),
        ("110105491231123", "110105*****1123"),  # old 15-digit form
        ("1234567890", "**********"),
        ("", ""),
    ],
)
def test_mask_id(raw: str, masked: str) -> None:
    assert mask_id(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+14155550100", "+14*****0100"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张", "张*"),
        ("王小明", "王**"),
        ("欧阳锋", "欧阳*"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳", "欧*"),  # the surname alone: keep one character
        ("诸葛亮", "诸葛*"),
        (" 李四 ", "李*"),
        ("John", "J***"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_name(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("110105194912311233", "110105********1233"),
        ("没看懂110105194912311233啊", "没看懂110105********1233啊"),
        ("ID110105194912311233", "ID110105********1233"),
        ("11010519800101004x", "110105********004X"),
        ("１１０１０５１９８００１０１００４Ｘ", "110105********004X"),  # full-width
        ("110105 19491231 1233", "110105********1233"),
        ("110105491231123", "110105*****1123"),  # old 15-digit form
        ("1101051949123112", "110105******3112"),  # a digit or two missing: still masked
        ("11010519491231123399", "110105**********3399"),  # too many
        ("13812345678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("008613812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("+86 13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("＋８６１３８１２３４５６７８", "138****5678"),
        ("13812345678x", "138****5678x"),
        ("我的手机+8613812345678，他的13987654321", "我的手机138****5678，他的139****4321"),
        ("+14155550100", "+14*****0100"),  # any E.164 number
        ("+1234", "+1234"),  # too short for a phone
        ("serial 12345678, queue 3, at 2026-11-24", "serial 12345678, queue 3, at 2026-11-24"),
        ("2026-11-24 2026-11-30 08:00", "2026-11-24 2026-11-30 08:00"),
        ("call 010-12345678", "call 010-12345678"),  # a landline (a hospital's) is not personal
        ("12X", "12X"),
        ("", ""),
    ],
)
def test_mask_personal(typed: str, shown: str) -> None:
    assert mask_personal(typed) == shown
