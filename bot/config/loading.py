"""The layers of the configuration and their merge; then one check of the whole (pydantic) and the policies (rules)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

import rules
from bot.config.messages import config_error_text, show
from bot.config.models import (
    SCALAR_SECTIONS,
    Config,
    Document,
    Hospital,
    Source,
    StaffToken,
    mainland_problems,
    wechat_problems,
)
from bot.errors import ConfigError

DEFAULT_PATH = Path("config.toml")
ENV_PREFIX = "GUAHAO_"
PATH_VARIABLE = "GUAHAO_CONFIG"
_DOCUMENT = TypeAdapter(Document)


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None, demo: Mapping[str, Any] | None = None
) -> Config:
    """Read the layers and validate: ``demo`` (the ``--demo`` layer, if any) < the file (``path``, else
    ``$GUAHAO_CONFIG``, else ``./config.toml`` if present) < ``GUAHAO_*`` variables of ``env``."""
    env = os.environ if env is None else env
    chosen, path_from = _choose_path(path, env)
    layers: list[tuple[Source, Mapping[str, Any]]] = [
        ("demo", demo or {}),
        ("file", _read_toml(chosen) if chosen else {}),
        ("env", _env_layer(env)),
    ]
    raw, sources = _merge(layers)
    return replace(build_config(raw, chosen), path_from=path_from, sources=sources)


def _choose_path(path: str | Path | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    if path is not None:
        return Path(path), "--config"
    if env.get(PATH_VARIABLE):
        return Path(env[PATH_VARIABLE]), PATH_VARIABLE
    if DEFAULT_PATH.is_file():
        return DEFAULT_PATH, "./config.toml"
    return None, ""


def _merge(layers: list[tuple[Source, Mapping[str, Any]]]) -> tuple[dict[str, Any], dict[str, Source]]:
    """One document from the layers, lowest first: tables key by key, a non-empty list replaces as a whole."""
    raw: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, layer in layers:
        for section, value in layer.items():
            if section == "hospitals" or not isinstance(value, dict):
                if value != [] or section not in raw:
                    raw[section], sources[section] = value, source
                continue
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: expected a table, got {show(table)}")
            for key, item in value.items():
                if item != [] or key not in table:  # an empty list of staff tokens: a lower layer's may fill in
                    table[key], sources[f"{section}.{key}"] = item, source
    return raw, sources


def build_config(raw: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document and build the typed configuration."""
    try:
        document = _DOCUMENT.validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(config_error_text(exc)) from None
    overrides = dict(document.policy)
    preset = overrides.pop("preset", rules.DEFAULT_PRESET)
    policy = _policy("policy", preset, overrides)
    hospitals = tuple(_hospital(index, table, policy) for index, table in enumerate(document.hospitals))
    problems = _duplicates(document) + _unscoped(document.security.staff_tokens, {h.id for h in hospitals})
    problems += mainland_problems(document.sms)  # SPEC §9: a kind without its template is refused
    problems += wechat_problems(document.wechat)
    if problems:
        raise ConfigError("; ".join(problems))
    return Config(
        server=document.server,
        redis=document.redis,
        security=document.security,
        wechat=document.wechat,
        sms=document.sms,
        retention=document.retention,
        policy_preset=preset,
        policy=policy,
        hospitals=hospitals,
        path=source,
    )


def _hospital(index: int, table: Any, policy: rules.Policy) -> Hospital:
    overrides = dict(table.policy)
    preset = overrides.pop("preset", None)
    own = _policy(f"hospitals[{index}].policy", preset or rules.DEFAULT_PRESET, overrides, None if preset else policy)
    return Hospital(
        id=table.id,
        name=table.name,
        name_en=table.name_en,
        address=table.address,
        phone=table.phone,
        departments=table.departments,
        policy=own,
    )


def _policy(where: str, preset: Any, overrides: Mapping[str, Any], base: rules.Policy | None = None) -> rules.Policy:
    try:
        return rules.build_policy(preset, overrides, base=base)
    except rules.PolicyError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _duplicates(document: Document) -> list[str]:
    """Names and ids that must be unique, each second one reported."""
    found = _twice("security.staff_tokens", "name", "a unique name", [t.name for t in document.security.staff_tokens])
    found += _twice("hospitals", "id", "a unique hospital id", [h.id for h in document.hospitals])
    for index, hospital in enumerate(document.hospitals):
        ids = [d.id for d in hospital.departments]
        found += _twice(f"hospitals[{index}].departments", "id", "a unique department id", ids)
    return found


def _twice(where: str, key: str, expected: str, values: list[str]) -> list[str]:
    return [
        f"{where}[{index}].{key}: expected {expected}, got {show(value)} twice"
        for index, value in enumerate(values)
        if value in values[:index]
    ]


def _unscoped(tokens: tuple[StaffToken, ...], hospital_ids: set[str]) -> list[str]:
    return [
        f"security.staff_tokens[{index}].hospitals: expected ids of configured hospitals, got {show(hospital_id)}"
        for index, token in enumerate(tokens)
        for hospital_id in token.hospitals or ()
        if hospital_id not in hospital_ids
    ]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes itself: a file saved as GBK or UTF-16 lands here
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text (byte {exc.start})") from None


def _env_layer(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The ``GUAHAO_<SECTION>_<KEY>`` variables as a document, each converted to the key's type."""
    raw: dict[str, dict[str, Any]] = {}
    for name, text in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in (*SCALAR_SECTIONS, "policy") if rest.startswith(s + "_")), None)
        if section is None:
            continue  # e.g. GUAHAO_CONFIG: not a setting
        key = rest[len(section) + 1 :]
        raw.setdefault(section, {})[key] = _env_value(section, key, text, name)
    return raw


def _env_value(section: str, key: str, text: str, variable: str) -> Any:
    """A variable's text as its key's type: pydantic's lax conversion (``"80"`` -> 80, ``"yes"`` -> true)."""
    if section == "policy":
        default = getattr(rules.PRESETS[rules.DEFAULT_PRESET], key, "")
        return text if key == "preset" or isinstance(default, str) else _json_or_text(text)
    known = SCALAR_SECTIONS[section].__pydantic_fields__  # type: ignore[attr-defined]
    if key not in known:
        raise ConfigError(f"{variable}: unknown setting; {section} has " + ", ".join(known))
    if key in ("templates", "templates_en"):  # [sms.templates] as JSON: {"otp": "SMS_123456", ...}
        return _json_or_text(text)
    if key in ("staff_tokens", "sentinels"):  # a JSON list, or comma-separated
        parsed = _json_or_text(text)
        return parsed if isinstance(parsed, list) else [t.strip() for t in text.split(",") if t.strip()]
    kind = known[key].annotation
    if kind not in (bool, int):
        return text
    try:
        return TypeAdapter(kind).validate_python(text)
    except ValidationError:
        expected = "true or false" if kind is bool else "an integer"
        raise ConfigError(f"{variable}: expected {expected}, got {show(text)}") from None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
