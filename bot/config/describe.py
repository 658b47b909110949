"""What ``guahao config`` shows: every part of the configuration, where it came from, secrets hidden."""

from __future__ import annotations

from dataclasses import fields

from bot.config.messages import show
from bot.config.models import SCALAR_SECTIONS, Config, Hidden, Source, StaffToken, redacted_url


def describe_config(config: Config) -> list[tuple[str, str, Source]]:
    """Every part of the configuration as (``section.key``, value as shown, source); secrets only "(set)"/"(empty)"."""
    parts: list[tuple[str, str, Source]] = []
    for section, cls in SCALAR_SECTIONS.items():
        declared = cls.__pydantic_fields__  # type: ignore[attr-defined]
        for item in fields(cls):
            part = f"{section}.{item.name}"
            value = getattr(getattr(config, section), item.name)
            if part == "redis.url":  # its password, if any, is a secret too
                value = redacted_url(value)
            parts.append((part, _shown(value, declared[item.name]), config.source(part)))
    parts.append(("policy.preset", show(config.policy_preset), config.source("policy.preset")))
    overridden = sorted(p for p in config.sources if p.startswith("policy.") and p != "policy.preset")
    parts += [(p, show(getattr(config.policy, p[len("policy.") :], "?")), config.source(p)) for p in overridden]
    hospitals = ", ".join(f"{h.id} ({len(h.departments)} dept.)" for h in config.hospitals) or "none"
    parts.append(("hospitals", hospitals, config.source("hospitals")))
    return parts


def _shown(value: object, declared: object) -> str:
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):  # the Sentinels' addresses
        return ", ".join(value) if value else "none"
    if isinstance(value, tuple):  # the staff tokens: their names and scopes, never their values
        return ", ".join(_token_shown(t) for t in value) + " (values hidden)" if value else "none"
    if any(isinstance(m, Hidden) for m in getattr(declared, "metadata", ())):
        return "(set)" if value else "(empty)"
    return show(value)


def _token_shown(token: StaffToken) -> str:
    return token.name + (f" [{', '.join(token.hospitals)}]" if token.hospitals is not None else "")
