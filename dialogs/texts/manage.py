"""Texts of appointments, cancellation, patients and standing: key -> (中文, English)."""

TEXTS: dict[str, tuple[str, str]] = {}
