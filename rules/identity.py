"""Real-name identity: resident ID numbers (GB 11643-1999), mainland mobiles, and masking of personal data."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

_ID = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s\-()]")
# a run of digits as people type numbers: ASCII or full-width, an optional leading +, groups of 3 or more digits
# after single spaces or dashes ("138 1234 5678", "+86 138-1234-5678"; dates "2026-11-24" stay three runs), an X
_NUMBER_RUN = re.compile(r"(?:[+＋][ \u3000]?)?\d+(?:[ \u3000\-－]\d{3,})*[XxＸｘ]?")
ID_LIKE_DIGITS = 15
"""A run of this many digits (or more, or one fewer and an X) is masked as an ID number: old 15-digit ones,
18-character ones, one typed with a digit missing or too many."""
E164_DIGITS = range(7, 16)
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
_CHECK_CHARS = "10X98765432"
_COMPOUND_SURNAMES = frozenset(
    {
        *("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒"),
        *("令狐", "夏侯", "端木", "轩辕", "独孤", "南宫", "西门", "百里", "呼延", "万俟", "闻人", "赫连"),
        *("澹台", "公冶", "宗政", "濮阳", "太叔", "申屠", "钟离", "司空", "亓官", "司寇", "子车", "拓跋"),
    }
)


@dataclass(frozen=True)
class IdCheck:
    """Result of checking a resident ID number; `reason` is "length", "birth_date" or "check_digit"."""

    valid: bool
    reason: str | None
    normalized: str | None  # 18 characters, upper-case X; set when valid
    birth_date: date | None


def _clean(value: str) -> str:
    """Full-width to ASCII (NFKC), separators removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))


def id_check_digit(first17: str) -> str:
    """The ISO 7064 mod 11-2 check character ("0".."9" or "X") for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {len(first17)} characters")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _birth_date(digits: str) -> date | None:
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def validate_id_number(value: str, today: date | None = None) -> IdCheck:
    """Check an 18-character resident ID: shape, a real birth date (1900..today) and the check digit."""
    cleaned = _clean(value).upper()
    if not _ID.fullmatch(cleaned):
        return IdCheck(False, "length", None, None)
    born = _birth_date(cleaned[6:14])
    if born is None or born.year < 1900 or (today is not None and born > today):
        return IdCheck(False, "birth_date", None, None)
    if id_check_digit(cleaned[:17]) != cleaned[17]:
        return IdCheck(False, "check_digit", None, born)
    return IdCheck(True, None, cleaned, born)


def normalize_mobile(value: str) -> str | None:
    """A mainland mobile in E.164 ("+8613812345678"), or None; accepts +86/0086/86 prefixes and separators."""
    digits = _clean(value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.fullmatch(digits):
        return None
    return "+86" + digits


def mask_id(id_number: str) -> str:
    """Shown form of an ID number: first 6, stars, last 4 ("110105********123X"); short ones all stars."""
    cleaned = _clean(id_number).upper()
    if len(cleaned) <= 10:
        return "*" * len(cleaned)
    return cleaned[:6] + "*" * (len(cleaned) - 10) + cleaned[-4:]


def mask_phone(phone: str) -> str:
    """Shown form of a phone: mainland national form "138****5678"; others keep first 3 and last 4."""
    mobile = normalize_mobile(phone)
    shown = mobile[3:] if mobile is not None else _clean(phone)
    if len(shown) <= 7:
        return "*" * len(shown)
    return shown[:3] + "*" * (len(shown) - 7) + shown[-4:]


def mask_name(name: str) -> str:
    """Shown form of a name: the surname (or first letter) kept, one star per other character ("张*")."""
    name = name.strip()
    if not name:
        return ""
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:keep] + "*" * max(len(name) - keep, 1)


def mask_personal(text: str) -> str:
    """``text`` with every ID-like and phone-like run masked, in any typed form: the one net for echoes and logs."""
    # ID-like: 15 or more digits, or 14 or more and an X. Phone-like: a mainland mobile as 138…, 86138…, +86138… or
    # 0086138…, or any + number. Full-width digits, and spaces or dashes between groups, count the same.
    return _NUMBER_RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group()
    cleaned = _clean(run).upper()
    number, tail = (cleaned[:-1], "X") if cleaned.endswith("X") else (cleaned, "")
    digits = number.lstrip("+")
    if normalize_mobile(number) is not None or (number.startswith("+") and len(digits) in E164_DIGITS):
        return mask_phone(number) + (run[-1] if tail else "")  # a letter typed after a phone stays as typed
    if len(digits) + len(tail) >= ID_LIKE_DIGITS:
        return mask_id(digits + tail)
    return run
