"""Load the configuration in layers and validate everything (SPEC §3, §7).

Layers, lowest first: built-in defaults < ``--demo`` < the config file < ``GUAHAO_<SECTION>_<KEY>`` variables. A
higher layer replaces a lower one key by key (a list, e.g. ``hospitals`` or ``staff_tokens``, as a whole; an empty
list replaces nothing), so the demo only fills what nobody set. Where every part came from is kept
(:meth:`Config.source`, :func:`describe_config`). Every mistake is reported as one line naming the key and what was
expected, e.g. ``policy.cancel_deadline: expected HH:MM, got "25:00"``. Secrets are never echoed back.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import rules
from bot.errors import ConfigError

DEFAULT_PATH = Path("config.toml")
ENV_PREFIX = "GUAHAO_"
PATH_VARIABLE = "GUAHAO_CONFIG"
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

Source = Literal["default", "demo", "file", "env"]
"""Where a part of the configuration came from, lowest layer first."""

MAX_ID = 64
ID_RULE = "an id (text without commas, quotes, | or control characters)"
# commas and quotes would break the CSV; "|" separates the parts of a slot id (bot.records.slot_id)
_ID_FORBIDDEN = frozenset(",\"'`|\u201c\u201d\u2018\u2019")


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a hospital, department or doctor id (SPEC §7), or ``None`` when it is one."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID or value != value.strip():
        return f"{ID_RULE} of 1 to {MAX_ID} characters, no spaces around it"
    if any(c in _ID_FORBIDDEN or unicodedata.category(c).startswith("C") for c in value):
        return ID_RULE
    return None


Check = Callable[[Any], str | None]
"""A validator: returns what was expected when the value is wrong, ``None`` when it is fine."""


def _choice(*options: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in options else "one of " + ", ".join(f'"{o}"' for o in options)

    return check


def _url(*schemes: str) -> Check:
    def check(value: Any) -> str | None:
        if value == "" or any(value.startswith(s + "://") for s in schemes):
            return None
        return "a URL starting with " + " or ".join(f"{s}://" for s in schemes) + " (or empty)"

    return check


def _port(value: Any) -> str | None:
    # 0 would make the OS pick a port: what is logged and what is listened on would differ
    return None if 1 <= value <= 65535 else "a port number from 1 to 65535"


def _host(value: Any) -> str | None:
    return None if value.strip() and value == value.strip() else "a host name or address"


def _secret_key(value: Any) -> str | None:
    return None if value == "" or len(value) >= 32 else "a string of at least 32 characters (or empty)"


def _aes_key(value: Any) -> str | None:
    return None if value == "" or re.fullmatch(r"[A-Za-z0-9]{43}", value) else "43 letters and digits (or empty)"


def _setting(default: Any, check: Check | None = None, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"check": check, "secret": secret})


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: where the web app listens and how it is reached from outside."""

    host: str = _setting("127.0.0.1", _host)
    port: int = _setting(8000, _port)
    public_url: str = _setting("", _url("http", "https"))
    simulator: bool = _setting(False)


@dataclass(frozen=True)
class RedisConfig:
    """``[redis]``: an external server, or (``url`` empty) an embedded one persisting under ``data_dir``."""

    url: str = _setting("", _url("redis", "rediss", "unix"))
    data_dir: str = _setting("./data")
    appendfsync: str = _setting("everysec", _choice("always", "everysec"))


@dataclass(frozen=True)
class StaffToken:
    """A named bearer token for the staff API; the name is what the audit trail records.

    ``hospitals`` scopes it (SPEC §7): ``None`` = every hospital, else only the hospitals with these ids.
    """

    name: str
    token: str
    hospitals: tuple[str, ...] | None = None

    def may_act_for(self, hospital_id: str) -> bool:
        """Whether this token may see or change anything of that hospital."""
        return self.hospitals is None or hospital_id in self.hospitals


@dataclass(frozen=True)
class SecurityConfig:
    """``[security]``: the key personal data is encrypted with, and the staff API tokens."""

    secret_key: str = _setting("", _secret_key, secret=True)
    staff_tokens: tuple[StaffToken, ...] = ()


@dataclass(frozen=True)
class WeChatConfig:
    """``[wechat]``: the official account; the channel is off while ``token`` is empty."""

    app_id: str = _setting("")
    app_secret: str = _setting("", secret=True)
    token: str = _setting("", secret=True)
    encoding_aes_key: str = _setting("", _aes_key, secret=True)
    api_base_url: str = _setting("https://api.weixin.qq.com/cgi-bin/", _url("http", "https"))
    reminder_template_id: str = _setting("")
    push: str = _setting("api", _choice("api", "console"))

    @property
    def enabled(self) -> bool:
        """Whether the webhook can check signatures at all."""
        return bool(self.token)

    @property
    def safe_mode(self) -> bool:
        """Whether messages are encrypted (安全模式)."""
        return bool(self.encoding_aes_key)


@dataclass(frozen=True)
class SmsConfig:
    """``[sms]``: the SMS provider; ``console`` records messages in the simulator's outbox."""

    provider: str = _setting("console", _choice("console", "twilio"))
    account_sid: str = _setting("")
    auth_token: str = _setting("", secret=True)
    from_number: str = _setting("")
    messaging_service_sid: str = _setting("")
    api_base_url: str = _setting("https://api.twilio.com", _url("http", "https"))


@dataclass(frozen=True)
class Department:
    """A department (科室) of a hospital; ``name_en`` is for English conversations ("" = none given)."""

    id: str
    name: str
    name_en: str = ""


@dataclass(frozen=True)
class Hospital:
    """A hospital with its departments and its own policy (global policy plus its overrides); ``name_en`` is for
    English conversations ("" = none given)."""

    id: str
    name: str
    address: str
    phone: str
    departments: tuple[Department, ...]
    policy: rules.Policy
    name_en: str = ""

    def department(self, department_id: str) -> Department | None:
        """The department with this id, if the hospital has one."""
        return next((d for d in self.departments if d.id == department_id), None)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    server: ServerConfig = ServerConfig()
    redis: RedisConfig = RedisConfig()
    security: SecurityConfig = SecurityConfig()
    wechat: WeChatConfig = WeChatConfig()
    sms: SmsConfig = SmsConfig()
    policy_preset: str = rules.DEFAULT_PRESET
    policy: rules.Policy = rules.PRESETS[rules.DEFAULT_PRESET]
    hospitals: tuple[Hospital, ...] = ()
    path: Path | None = None
    path_from: str = field(default="", compare=False)
    """How ``path`` was chosen: "--config", "GUAHAO_CONFIG", "./config.toml", or "" (no file)."""
    sources: Mapping[str, Source] = field(default_factory=dict, compare=False)
    """``section.key`` (or ``hospitals``) -> the layer that set it; absent = built-in default."""

    def hospital(self, hospital_id: str) -> Hospital | None:
        """The hospital with this id, if configured."""
        return next((h for h in self.hospitals if h.id == hospital_id), None)

    def source(self, part: str) -> Source:
        """Where a part (``server.port``, ``policy.preset``, ``hospitals``…) came from."""
        return self.sources.get(part, "default")

    @property
    def demo_staff_token(self) -> str | None:
        """The staff token ``--demo`` made, when the staff tokens came from the demo (the only one ever shown)."""
        tokens = self.security.staff_tokens
        return tokens[0].token if tokens and self.source("security.staff_tokens") == "demo" else None


_SCALAR_SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "redis": RedisConfig,
    "security": SecurityConfig,
    "wechat": WeChatConfig,
    "sms": SmsConfig,
}
SECTIONS = (*_SCALAR_SECTIONS, "policy", "hospitals")


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
                    raw[section] = value
                    sources[section] = source
                continue
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: expected a table, got {_show(table)}")
            for key, item in value.items():
                if item == [] and key in table:
                    continue  # an empty list of staff tokens configures none: a lower layer's may fill in
                table[key] = item
                sources[f"{section}.{key}"] = source
    return raw, sources


def build_config(raw: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document and build the typed configuration."""
    _reject_unknown("", raw, SECTIONS, "section")
    sections = {name: _section(name, cls, raw.get(name, {})) for name, cls in _SCALAR_SECTIONS.items()}
    policy_table = _table("policy", raw.get("policy", {}))
    preset = policy_table.get("preset", rules.DEFAULT_PRESET)
    overrides = {k: v for k, v in policy_table.items() if k != "preset"}
    policy = _policy("policy", preset, overrides)
    hospitals = _hospitals(raw.get("hospitals", []), policy)
    _check_token_scopes(sections["security"].staff_tokens, {h.id for h in hospitals})
    return Config(
        server=sections["server"],
        redis=sections["redis"],
        security=sections["security"],
        wechat=sections["wechat"],
        sms=sections["sms"],
        policy_preset=preset,
        policy=policy,
        hospitals=hospitals,
        path=source,
    )


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


def _env_layer(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The ``GUAHAO_<SECTION>_<KEY>`` variables as a document, each converted to the key's type."""
    raw: dict[str, dict[str, Any]] = {}
    for name, text in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in (*_SCALAR_SECTIONS, "policy") if rest.startswith(s + "_")), None)
        if section is None:
            continue  # e.g. GUAHAO_CONFIG: not a setting
        key = rest[len(section) + 1 :]
        raw.setdefault(section, {})[key] = _env_value(section, key, text, name)
    return raw


def _env_value(section: str, key: str, text: str, variable: str) -> Any:
    if section == "policy":
        known = {f.name: getattr(rules.PRESETS[rules.DEFAULT_PRESET], f.name) for f in fields(rules.Policy)}
        if key == "preset" or isinstance(known.get(key, ""), str):
            return text
        return _json_or_text(text)
    by_name = {f.name: f for f in fields(_SCALAR_SECTIONS[section])}
    if key not in by_name:
        raise ConfigError(f"{variable}: unknown setting; {section} has " + ", ".join(by_name))
    default = by_name[key].default
    if key == "staff_tokens":
        parsed = _json_or_text(text)
        return parsed if isinstance(parsed, list) else [t.strip() for t in text.split(",") if t.strip()]
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{variable}: expected true or false, got {_show(text)}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{variable}: expected an integer, got {_show(text)}") from None
    return text


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _section(name: str, cls: type, value: Any) -> Any:
    table = _table(name, value)
    by_name = {f.name: f for f in fields(cls)}
    _reject_unknown(name + ".", table, tuple(by_name), "key")
    kwargs: dict[str, Any] = {}
    for key, item in table.items():
        meta = by_name[key].metadata
        if key == "staff_tokens":
            kwargs[key] = _staff_tokens(item)
            continue
        default = by_name[key].default
        expected = _type_expectation(default, item)
        shown = "(hidden)" if meta.get("secret") else _show(item)
        if expected is not None:
            raise ConfigError(f"{name}.{key}: expected {expected}, got {shown}")
        check: Check | None = meta.get("check")
        problem = check(item) if check else None
        if problem is not None:
            got = f"{len(item)} characters" if meta.get("secret") else shown
            raise ConfigError(f"{name}.{key}: expected {problem}, got {got}")
        kwargs[key] = item
    return cls(**kwargs)


def _type_expectation(default: Any, value: Any) -> str | None:
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    return None if isinstance(value, str) else "a string"


def _staff_tokens(value: Any) -> tuple[StaffToken, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"security.staff_tokens: expected a list of tokens, got {_show(value)}")
    tokens: list[StaffToken] = []
    for index, item in enumerate(value):
        where = f"security.staff_tokens[{index}]"
        if isinstance(item, str):
            item = {"name": f"staff{index + 1}", "token": item}
        if not isinstance(item, dict) or not {"name", "token"} <= set(item) <= {"name", "token", "hospitals"}:
            raise ConfigError(f"{where}: expected a token string or {{name, token, hospitals?}}, got (hidden)")
        name, token = item["name"], item["token"]
        if not isinstance(name, str) or not _SLUG.match(name):
            raise ConfigError(f"{where}.name: expected letters, digits, - or _, got {_show(name)}")
        if not isinstance(token, str) or len(token) < 16:
            raise ConfigError(f"{where}.token: expected a string of at least 16 characters, got (hidden)")
        if any(t.name == name for t in tokens):
            raise ConfigError(f"{where}.name: expected a unique name, got {_show(name)} twice")
        tokens.append(StaffToken(name=name, token=token, hospitals=_token_hospitals(where, item.get("hospitals"))))
    return tuple(tokens)


def _token_hospitals(where: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(h, str) and h for h in value):
        raise ConfigError(f"{where}.hospitals: expected a non-empty list of hospital ids, got {_show(value)}")
    return tuple(value)


def _check_token_scopes(tokens: tuple[StaffToken, ...], hospital_ids: set[str]) -> None:
    for index, token in enumerate(tokens):
        for hospital_id in token.hospitals or ():
            if hospital_id not in hospital_ids:
                raise ConfigError(
                    f"security.staff_tokens[{index}].hospitals: expected ids of configured hospitals, "
                    f"got {_show(hospital_id)}"
                )


def _policy(where: str, preset: Any, overrides: Mapping[str, Any], base: rules.Policy | None = None) -> rules.Policy:
    try:
        return rules.build_policy(preset, overrides, base=base)
    except rules.PolicyError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _hospitals(value: Any, policy: rules.Policy) -> tuple[Hospital, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"hospitals: expected a list of [[hospitals]] tables, got {_show(value)}")
    hospitals: list[Hospital] = []
    for index, item in enumerate(value):
        where = f"hospitals[{index}]"
        table = _table(where, item)
        _reject_unknown(
            where + ".", table, ("id", "name", "name_en", "address", "phone", "policy", "departments"), "key"
        )
        hospital_id = _id(f"{where}.id", table.get("id"))
        if any(h.id == hospital_id for h in hospitals):
            raise ConfigError(f"{where}.id: expected a unique hospital id, got {_show(hospital_id)} twice")
        overrides = dict(_table(f"{where}.policy", table.get("policy", {})))
        preset = overrides.pop("preset", None)
        hospital_policy = _policy(
            f"{where}.policy", preset or rules.DEFAULT_PRESET, overrides, None if preset else policy
        )
        hospitals.append(
            Hospital(
                id=hospital_id,
                name=_text(f"{where}.name", table.get("name"), required=True),
                name_en=_text(f"{where}.name_en", table.get("name_en", "")),
                address=_text(f"{where}.address", table.get("address", "")),
                phone=_text(f"{where}.phone", table.get("phone", "")),
                departments=_departments(where, table.get("departments", [])),
                policy=hospital_policy,
            )
        )
    return tuple(hospitals)


def _departments(where: str, value: Any) -> tuple[Department, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}.departments: expected a list of tables, got {_show(value)}")
    departments: list[Department] = []
    for index, item in enumerate(value):
        at = f"{where}.departments[{index}]"
        table = _table(at, item)
        _reject_unknown(at + ".", table, ("id", "name", "name_en"), "key")
        department_id = _id(f"{at}.id", table.get("id"))
        if any(d.id == department_id for d in departments):
            raise ConfigError(f"{at}.id: expected a unique department id, got {_show(department_id)} twice")
        departments.append(
            Department(
                id=department_id,
                name=_text(f"{at}.name", table.get("name"), required=True),
                name_en=_text(f"{at}.name_en", table.get("name_en", "")),
            )
        )
    return tuple(departments)


def _id(where: str, value: Any) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}: expected {problem}, got {_show(value)}")
    return str(value)


def _text(where: str, value: Any, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"{where}: expected a {'non-empty ' if required else ''}string, got {_show(value)}")
    return value


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {_show(value)}")
    return value


def _reject_unknown(prefix: str, table: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown {what}; expected one of: {', '.join(known)}")


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def describe_config(config: Config) -> list[tuple[str, str, Source]]:
    """Every part of the configuration as (``section.key``, value as shown, source); secrets only "(set)"/"(empty)"."""
    parts: list[tuple[str, str, Source]] = []
    for section, cls in _SCALAR_SECTIONS.items():
        values = getattr(config, section)
        for item in fields(cls):
            part = f"{section}.{item.name}"
            value = getattr(values, item.name)
            if item.name == "staff_tokens":
                shown = ", ".join(_token_shown(t) for t in value) + " (values hidden)" if value else "none"
            elif item.metadata.get("secret"):
                shown = "(set)" if value else "(empty)"
            else:
                shown = _show(value)
            parts.append((part, shown, config.source(part)))
    parts.append(("policy.preset", _show(config.policy_preset), config.source("policy.preset")))
    overridden = sorted(p for p in config.sources if p.startswith("policy.") and p != "policy.preset")
    parts += [(p, _show(getattr(config.policy, p[len("policy.") :], "?")), config.source(p)) for p in overridden]
    hospitals = ", ".join(f"{h.id} ({len(h.departments)} dept.)" for h in config.hospitals) or "none"
    parts.append(("hospitals", hospitals, config.source("hospitals")))
    return parts


def _token_shown(token: StaffToken) -> str:
    return token.name + (f" [{', '.join(token.hospitals)}]" if token.hospitals is not None else "")
