"""Load the configuration in layers and validate everything (SPEC §3, §7).

Layers, lowest first: built-in defaults < ``--demo`` < the config file < ``GUAHAO_<SECTION>_<KEY>`` variables. A
higher layer replaces a lower one key by key (a list, e.g. ``hospitals`` or ``staff_tokens``, as a whole; an empty
list replaces nothing), so the demo only fills what nobody set. Where every part came from is kept
(:meth:`Config.source`, :func:`describe_config`). The parts are pydantic dataclasses (:mod:`bot.config.models`);
every mistake found is reported on one line naming the key and what was expected, e.g.
``policy.cancel_deadline: expected HH:MM, got "25:00"`` (several joined by "; "). Secrets are never echoed back.
"""

from bot.config.describe import describe_config
from bot.config.loading import DEFAULT_PATH, ENV_PREFIX, PATH_VARIABLE, build_config, load_config
from bot.config.models import (
    ID_RULE,
    MAINLAND_PROVIDERS,
    MAX_ID,
    OPTIONAL_TEMPLATE_KINDS,
    SECTIONS,
    TEMPLATE_KINDS,
    Config,
    Department,
    Hospital,
    RedisConfig,
    RetentionConfig,
    SecurityConfig,
    ServerConfig,
    SmsConfig,
    Source,
    StaffToken,
    WeChatConfig,
    id_problem,
    mainland_warnings,
    redacted_url,
    twilio_warnings,
)

__all__ = [
    "DEFAULT_PATH",
    "ENV_PREFIX",
    "ID_RULE",
    "MAINLAND_PROVIDERS",
    "MAX_ID",
    "PATH_VARIABLE",
    "SECTIONS",
    "OPTIONAL_TEMPLATE_KINDS",
    "TEMPLATE_KINDS",
    "Config",
    "Department",
    "Hospital",
    "RedisConfig",
    "RetentionConfig",
    "SecurityConfig",
    "ServerConfig",
    "SmsConfig",
    "Source",
    "StaffToken",
    "WeChatConfig",
    "build_config",
    "describe_config",
    "id_problem",
    "load_config",
    "mainland_warnings",
    "redacted_url",
    "twilio_warnings",
]
