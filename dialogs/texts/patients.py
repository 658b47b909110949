"""Texts of patient management: key -> (中文, English)."""

TEXTS: dict[str, tuple[str, str]] = {}
