"""The text catalogs: every word a patient or staff member reads, in Chinese (default) and English, never inline in
the logic — the dialogs' sentences, the pushed notices (``notices``), the SMS adapter's own answers (``sms``), the
one-time code's SMS (``otp``), and the words of dates and money (``calendar``, written only through ``format``).

Each module of this package holds one subject's texts as ``TEXTS = {key: (zh, en)}``, the two languages side
by side so that they stay in step (a test checks that every key has both and the same placeholders). ``say`` looks
a key up and fills its ``{placeholders}``. ``{text}`` is by convention what the user typed, quoted back: it is
masked here (ID and phone numbers), whoever fills it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import rules
from texts import (
    book,
    calendar,
    common,
    ics,
    lottery,
    manage,
    notices,
    otp,
    patients,
    settle,
    sms,
    sms_templates,
    verify,
    waitlist,
)

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
ECHOED = "text"
"""The placeholder that carries the user's own words."""


def _merge() -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for module in (
        common,
        verify,
        book,
        manage,
        patients,
        calendar,
        notices,
        sms,
        otp,
        lottery,
        waitlist,
        sms_templates,
        settle,
        ics,
    ):
        for key, texts in module.TEXTS.items():
            if key in merged:
                raise KeyError(f"text key {key!r} defined twice")
            merged[key] = texts
    return merged


CATALOG = MappingProxyType(_merge())


def text(language: str, key: str, **values: Any) -> str:
    """The text ``key`` in ``language`` (Chinese when unknown), placeholders filled."""
    zh, en = CATALOG[key]
    template = en if language == "en" else zh
    if ECHOED in values:
        values = {**values, ECHOED: rules.mask_personal(str(values[ECHOED]))}
    return template.format(**values) if values else template
