"""The configuration's parts as pydantic dataclasses: the types, defaults and checks of every key, declared once.

Each check keeps the project's wording (what was expected); :mod:`bot.config.messages` turns pydantic's errors into
one-line ``key: expected X, got Y`` messages. Policies are built afterwards by ``rules`` (stdlib dataclasses).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass as checked_dataclass
from pydantic_core import PydanticCustomError

import rules

Source = Literal["default", "demo", "file", "env"]
"""Where a part of the configuration came from, lowest layer first."""

MAX_ID = 64
ID_RULE = "an id (text without commas, quotes, | or control characters)"
# commas and quotes would break the CSV; "|" separates the parts of a slot id (bot.records.slot_id)
_ID_FORBIDDEN = frozenset(",\"'`|\u201c\u201d\u2018\u2019")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# unknown keys are mistakes (a typo would silently do nothing); types are checked as written, never coerced
_TABLE = ConfigDict(extra="forbid")


class Hidden:
    """Marks a secret key: its value is never shown, in errors or in ``describe_config``."""


HIDDEN = Hidden()

Check = Callable[[Any], str | None]
"""A validator: returns what was expected when the value is wrong, ``None`` when it is fine."""


def expecting(check: Check) -> BeforeValidator:
    """A pydantic validator from a :data:`Check`: its problem becomes the error's "expected" phrase."""

    def validate(value: Any) -> Any:
        problem = check(value)
        if problem is not None:
            raise PydanticCustomError("guahao", "expected {expected}", {"expected": problem})
        return value

    return BeforeValidator(validate)


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a hospital, department or doctor id (SPEC §7), or ``None`` when it is one."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID or value != value.strip():
        return f"{ID_RULE} of 1 to {MAX_ID} characters, no spaces around it"
    if any(c in _ID_FORBIDDEN or unicodedata.category(c).startswith("C") for c in value):
        return ID_RULE
    return None


def _string(check: Check) -> Check:
    return lambda value: "a string" if not isinstance(value, str) else check(value)


def _choice(*options: str) -> Check:
    return _string(lambda value: None if value in options else "one of " + ", ".join(f'"{o}"' for o in options))


def _url(*schemes: str) -> Check:
    expected = "a URL starting with " + " or ".join(f"{s}://" for s in schemes) + " (or empty)"
    return _string(
        lambda value: None if value == "" or value.startswith(tuple(s + "://" for s in schemes)) else expected
    )


def _port(value: Any) -> str | None:
    # 0 would make the OS pick a port: what is logged and what is listened on would differ
    return None if not isinstance(value, int) or 1 <= value <= 65535 else "a port number from 1 to 65535"


Text = Annotated[str, Strict()]
Integer = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Secret = Annotated[str, Strict(), HIDDEN]
Id = Annotated[str, expecting(id_problem)]
Name = Annotated[str, expecting(lambda v: None if isinstance(v, str) and v.strip() else "a non-empty string")]


@checked_dataclass(frozen=True, config=_TABLE)
class ServerConfig:
    """``[server]``: where the web app listens and how it is reached from outside."""

    host: Annotated[
        str, expecting(_string(lambda v: None if v.strip() and v == v.strip() else "a host name or address"))
    ] = "127.0.0.1"
    port: Annotated[int, Strict(), expecting(_port)] = 8000
    public_url: Annotated[str, expecting(_url("http", "https"))] = ""
    simulator: Flag = False
    calendar_base_url: Annotated[str, expecting(_url("http", "https"))] = ""


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _sentinel_problem(value: Any) -> str | None:
    expected = 'a "host:port" string'
    if not isinstance(value, str):
        return expected
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or _port(int(port)) is not None or host != host.strip():
        return expected
    return None


def _sentinels(value: Any) -> str | None:
    """A list of ``host:port`` strings (Redis Sentinel addresses), or empty."""
    if not isinstance(value, list | tuple) or any(_sentinel_problem(v) for v in value):
        return 'a list of "host:port" strings (the Sentinels), or empty'
    return None


def _count(low: int, high: int, unit: str) -> Check:
    return lambda v: (
        None
        if isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        else (f"a whole number of {unit} from {low} to {high}")
    )


@checked_dataclass(frozen=True, config=_TABLE)
class RedisConfig:
    """``[redis]``: an external server, a Sentinel deployment (``sentinels``: ``url`` then unused), or (both empty)
    an embedded one persisting under ``data_dir``; ``min_replicas_ack``/``ack_timeout_ms``: the ``WAIT`` a change
    the patient is told about waits for (SPEC §7)."""

    url: Annotated[str, expecting(_url("redis", "rediss", "unix"))] = ""
    data_dir: Text = "./data"
    appendfsync: Annotated[str, expecting(_choice("always", "everysec"))] = "everysec"
    sentinels: Annotated[tuple[str, ...], expecting(_sentinels)] = ()
    sentinel_service: Annotated[str, expecting(_string(lambda v: None if v.strip() else "a non-empty name"))] = "guahao"
    min_replicas_ack: Annotated[int, Strict(), expecting(_count(0, 16, "replicas"))] = 0
    ack_timeout_ms: Annotated[int, Strict(), expecting(_count(1, 60_000, "milliseconds"))] = 500

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels as ``(host, port)`` pairs (checked by :func:`_sentinels`)."""
        return [_host_port(each) for each in self.sentinels]


def _days(minimum: int) -> Check:
    return lambda v: (
        None
        if isinstance(v, int) and not isinstance(v, bool) and v >= minimum
        else (f"a whole number of days, at least {minimum}")
    )


@checked_dataclass(frozen=True, config=_TABLE)
class RetentionConfig:
    """``[retention]``: how long settled appointments and audit entries stay in Redis before ``bot.archive`` moves
    them to the daily files under ``<redis.data_dir>/archive/``."""

    # the booking limits look back 100 days of bookings (bot.booking.HISTORY): nothing younger may leave Redis
    appointments_days: Annotated[int, Strict(), expecting(_days(100))] = 120
    audit_days: Annotated[int, Strict(), expecting(_days(1))] = 90
    archive_dir: Text = ""


def _token_shape(value: Any) -> Any:
    if isinstance(value, dict) and {"name", "token"} <= set(value) <= {"name", "token", "hospitals"}:
        return value
    raise PydanticCustomError(
        "guahao", "expected {expected}", {"expected": "a token string or {name, token, hospitals?}"}
    )


@checked_dataclass(frozen=True, config=_TABLE)
class StaffToken:
    """A named bearer token for the staff API; the name is what the audit trail records.

    ``hospitals`` scopes it (SPEC §7): ``None`` = every hospital, else only the hospitals with these ids.
    """

    name: Annotated[
        str, expecting(lambda v: None if isinstance(v, str) and _SLUG.match(v) else "letters, digits, - or _")
    ]
    token: Annotated[
        str,
        HIDDEN,
        expecting(lambda v: None if isinstance(v, str) and len(v) >= 16 else "a string of at least 16 characters"),
    ]
    hospitals: Annotated[
        tuple[str, ...] | None,
        expecting(
            lambda v: (
                None
                if v is None or (isinstance(v, list | tuple) and v and all(isinstance(h, str) and h for h in v))
                else "a non-empty list of hospital ids"
            )
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return value if isinstance(value, StaffToken) else _token_shape(value)

    def may_act_for(self, hospital_id: str) -> bool:
        """Whether this token may see or change anything of that hospital."""
        return self.hospitals is None or hospital_id in self.hospitals


def _named_tokens(value: Any) -> Any:
    """A bare token string is named by its place: ``staff1``, ``staff2``…"""
    if not isinstance(value, list | tuple):
        return value
    return [{"name": f"staff{i + 1}", "token": item} if isinstance(item, str) else item for i, item in enumerate(value)]


@checked_dataclass(frozen=True, config=_TABLE)
class SecurityConfig:
    """``[security]``: the key personal data is encrypted with, and the staff API tokens."""

    secret_key: Annotated[
        str,
        HIDDEN,
        expecting(
            _string(lambda v: None if v == "" or len(v) >= 32 else "a string of at least 32 characters (or empty)")
        ),
    ] = ""
    staff_tokens: Annotated[tuple[StaffToken, ...], HIDDEN, BeforeValidator(_named_tokens)] = ()


@checked_dataclass(frozen=True, config=_TABLE)
class WeChatConfig:
    """``[wechat]``: the official account; the channel is off while ``token`` is empty."""

    app_id: Text = ""
    app_secret: Secret = ""
    token: Secret = ""
    encoding_aes_key: Annotated[
        str,
        HIDDEN,
        expecting(
            _string(
                lambda v: None if v == "" or re.fullmatch(r"[A-Za-z0-9]{43}", v) else "43 letters and digits (or empty)"
            )
        ),
    ] = ""
    api_base_url: Annotated[str, expecting(_url("http", "https"))] = "https://api.weixin.qq.com/cgi-bin/"
    reminder_template_id: Text = ""
    push: Annotated[str, expecting(_choice("api", "console"))] = "api"

    @property
    def enabled(self) -> bool:
        """Whether the webhook can check signatures at all."""
        return bool(self.token)

    @property
    def safe_mode(self) -> bool:
        """Whether messages are encrypted (安全模式)."""
        return bool(self.encoding_aes_key)


MAINLAND_PROVIDERS = ("aliyun", "tencentcloud")
"""The mainland providers (SPEC §9): every message goes out as a pre-approved template of its kind."""
TEMPLATE_KINDS = (
    "otp",
    "confirmation",
    "reminder",
    "cancellation",
    "broadcast",
    "offer",
    "rescheduled",
    "lottery",
    "no_show",
    "waitlist_skipped",
    "reply_short",
)
"""Every kind of outbound SMS (SPEC §6, §8; ``reply_short`` carries a reply to an inbound SMS), each of which needs
a template code under a mainland provider (an optional one: a warning without it)."""
OPTIONAL_TEMPLATE_KINDS = ("waitlist_skipped",)
"""The kinds added after mainland SMS first shipped: a configuration without their template still loads (a new
template waits days for the provider's approval, an upgrade should not), and such a notice is not sent by SMS."""
_TEMPLATE_CODE = {"aliyun": re.compile(r"SMS_[0-9]{3,20}"), "tencentcloud": re.compile(r"[0-9]{1,20}")}
_TEMPLATE_EXAMPLE = {"aliyun": '"SMS_" and digits, as the console shows it', "tencentcloud": "the template ID (digits)"}


def _templates(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return None if ok else "a table of message kind = template code"


def _rate(value: Any) -> str | None:
    return None if type(value) is int and value >= 0 else "a whole number, 0 or more (0 = no limit)"


Rate = Annotated[int, expecting(_rate)]


@checked_dataclass(frozen=True, config=_TABLE)
class SmsConfig:
    """``[sms]``: the SMS provider; ``console`` records messages in the simulator's outbox; ``aliyun`` and
    ``tencentcloud`` send approved templates (``templates``: kind -> template code) under ``sign_name``."""

    provider: Annotated[str, expecting(_choice("console", "twilio", *MAINLAND_PROVIDERS))] = "console"
    account_sid: Text = ""
    auth_token: Secret = ""
    from_number: Text = ""
    messaging_service_sid: Text = ""
    api_base_url: Annotated[str, expecting(_url("http", "https"))] = ""
    access_key_id: Text = ""
    access_key_secret: Secret = ""
    secret_id: Text = ""
    secret_key: Secret = ""
    sdk_app_id: Text = ""
    region: Text = "ap-guangzhou"
    sign_name: Text = ""
    templates: Annotated[dict[str, str], expecting(_templates)] = Field(default_factory=dict)
    templates_en: Annotated[dict[str, str], expecting(_templates)] = Field(default_factory=dict)
    inbound_token: Annotated[
        str,
        HIDDEN,
        expecting(
            _string(lambda v: None if v == "" or len(v) >= 16 else "a string of at least 16 characters (or empty)")
        ),
    ] = ""
    per_phone_per_minute: Rate = 1
    per_phone_per_hour: Rate = 5
    per_phone_per_day: Rate = 10


def wechat_problems(wechat: WeChatConfig) -> list[str]:
    """Safe mode without the AppID: every pushed message carries the account's AppID inside its encryption and is
    checked against ``app_id`` (wechatpy), so each one would be refused as undecryptable (400)."""
    if wechat.enabled and wechat.safe_mode and not wechat.app_id:
        return ["wechat.app_id: expected the official account's AppID (wx...): safe mode (encoding_aes_key) needs it"]
    return []


def mainland_problems(sms: SmsConfig) -> list[str]:
    """What a mainland provider still needs (credentials, the signature, a valid template code for every kind), as
    ``sms.key: expected X`` lines; none for the other providers."""
    if sms.provider not in MAINLAND_PROVIDERS:
        return []
    needed: tuple[str, ...] = (
        ("access_key_id", "access_key_secret") if sms.provider == "aliyun" else ("secret_id", "secret_key")
    )
    needed += ("sdk_app_id",) if sms.provider == "tencentcloud" else ()
    missing = [(key, f"a value for provider {sms.provider}") for key in (*needed, "sign_name") if not getattr(sms, key)]
    pattern = _TEMPLATE_CODE[sms.provider]
    for kind in TEMPLATE_KINDS:
        code = sms.templates.get(kind)
        if code is None and kind in OPTIONAL_TEMPLATE_KINDS:
            continue
        if code is None:
            missing.append((f"templates.{kind}", f"the template code of {kind} messages (provider {sms.provider})"))
        elif not pattern.fullmatch(code):
            missing.append((f"templates.{kind}", f"{_TEMPLATE_EXAMPLE[sms.provider]}, got {code!r}"))
    for table in ("templates", "templates_en"):
        codes: dict[str, str] = getattr(sms, table)
        missing += [(f"{table}.{k}", "one of " + ", ".join(TEMPLATE_KINDS)) for k in codes if k not in TEMPLATE_KINDS]
    missing += [
        (f"templates_en.{kind}", f"{_TEMPLATE_EXAMPLE[sms.provider]}, got {code!r}")
        for kind, code in sms.templates_en.items()
        if kind in TEMPLATE_KINDS and not pattern.fullmatch(code)
    ]
    return [f"sms.{key}: expected {what}" for key, what in missing]


def mainland_warnings(sms: SmsConfig) -> list[str]:
    """The optional kinds (``OPTIONAL_TEMPLATE_KINDS``) a mainland provider has no template for, as
    ``sms.templates.<kind>: ...`` lines: those notices reach WeChat users only."""
    if sms.provider not in MAINLAND_PROVIDERS:
        return []
    return [
        f"sms.templates.{kind}: no template code; {kind} notices go by WeChat only, not by SMS, until one is filed "
        "(docs/sms-templates.md)"
        for kind in OPTIONAL_TEMPLATE_KINDS
        if kind not in sms.templates
    ]


_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.I)


def redacted_url(url: str) -> str:
    """``url`` with a password in it (``redis://:pw@host``, ``redis://user:pw@host``, ``?password=pw``) hidden, for
    what is shown and logged: ``redis://:***@host``."""
    scheme, separator, rest = url.partition("://")
    if separator:
        authority, slash, path = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")  # a password may hold an unescaped "@": the last one ends it
        user, colon, password = userinfo.partition(":")
        if at and colon and password:
            url = f"{scheme}://{user}:***@{host}{slash}{path}"
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "***", url)


def twilio_warnings(sms: SmsConfig) -> list[str]:
    """What ``sms.provider = "twilio"`` lacks to send (the sender then stays off and every SMS, the verification
    codes included, lands in the console outbox only), as ``sms.<key>: ...`` lines for ``check-config``."""
    if sms.provider != "twilio":
        return []
    found = [
        f"sms.{key}: empty; provider twilio cannot send without it: SMS (verification codes too) go to the console "
        "outbox only"
        for key in ("account_sid", "auth_token")
        if not getattr(sms, key)
    ]
    if not (sms.from_number or sms.messaging_service_sid):
        found.append(
            "sms.from_number / sms.messaging_service_sid: both empty; provider twilio cannot send without a sender: "
            "SMS (verification codes too) go to the console outbox only"
        )
    return found


def _age(value: Any) -> str | None:
    ok = value is None or (type(value) is int and 0 <= value <= 150)  # bool is an int: not an age
    return None if ok else "a whole number of years from 0 to 150"


Age = Annotated[int | None, expecting(_age)]
"""A department's age bound (RULES §9): whole years on the visit date, bounds included; unset = none."""


@checked_dataclass(frozen=True, config=_TABLE)
class Department:
    """A department (科室) of a hospital; ``name_en`` is for English conversations ("" = none given)."""

    id: Id
    name: Name
    name_en: Text = ""
    age_min: Age = None
    age_max: Age = None
    sex: Annotated[
        Literal["female", "male"] | None, expecting(lambda v: None if v is None else _choice("female", "male")(v))
    ] = None

    @model_validator(mode="after")
    def _ages_in_order(self) -> Department:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise PydanticCustomError("guahao", "expected {expected}", {"expected": "age_min not above age_max"})
        return self

    @property
    def limits(self) -> rules.DepartmentLimits:
        """Who the department sees (RULES §9), for ``rules.department_allows``."""
        return rules.DepartmentLimits(self.age_min, self.age_max, self.sex)


@checked_dataclass(frozen=True, config=_TABLE)
class HospitalTable:
    """A ``[[hospitals]]`` table as written: its ``policy`` overrides are built into a policy afterwards."""

    id: Id
    name: Name
    name_en: Text = ""
    address: Text = ""
    phone: Text = ""
    policy: dict[str, Any] = Field(default_factory=dict)
    departments: tuple[Department, ...] = ()


@checked_dataclass(frozen=True, config=_TABLE)
class Document:
    """The whole merged document: every section, checked at once (all mistakes are reported together)."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    wechat: WeChatConfig = Field(default_factory=WeChatConfig)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    policy: dict[str, Any] = Field(default_factory=dict)
    hospitals: tuple[HospitalTable, ...] = ()


SCALAR_SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "redis": RedisConfig,
    "security": SecurityConfig,
    "wechat": WeChatConfig,
    "sms": SmsConfig,
    "retention": RetentionConfig,
}
SECTIONS = (*SCALAR_SECTIONS, "policy", "hospitals")


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
    retention: RetentionConfig = RetentionConfig()
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
