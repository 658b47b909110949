"""The mainland providers' per-phone limits (SPEC §9), kept on our side: a send that would go over one is not made.

Aliyun and Tencent Cloud refuse the message anyway (``isv.BUSINESS_LIMIT_CONTROL``; ``LimitExceeded.PhoneNumber…``)
once a phone had its quota for the minute, the hour or the day — by default 1, 5 and 10 (Tencent Cloud's
first window is 30 s), both changeable in their consoles. ``[sms] per_phone_per_minute/hour/day`` hold the same
numbers here, so that the bot knows before asking and says so in one clear log line. One Lua script
(``sms_rate.lua``) checks and counts the three windows at once, so concurrent senders never pass a limit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo

import redis

import rules
from bot.clock import Clock
from bot.config import SmsConfig
from bot.crypto import SecretBox
from bot.storage import keys
from bot.storage.scripts import Scripts

log = logging.getLogger(__name__)

WINDOWS = (("minute", 60), ("hour", 3600), ("day", 86400))
PROVIDERS_ZONE = ZoneInfo("Asia/Shanghai")
"""The providers count a day as a calendar day (自然日) of Beijing time."""


@dataclass(frozen=True)
class RateLimitHit:
    """A send refused: ``window`` (minute, hour, day) already had ``limit`` messages to that phone."""

    window: str
    limit: int


class PhoneRateLimit:
    """Counts the SMS per phone per minute, hour and calendar day (of ``tz``) on the deployment's clock."""

    def __init__(
        self, redis_client: redis.Redis, box: SecretBox, clock: Clock, config: SmsConfig, tz: tzinfo = PROVIDERS_ZONE
    ) -> None:
        self._box = box
        self._clock = clock
        self._tz = tz
        self._limits = (config.per_phone_per_minute, config.per_phone_per_hour, config.per_phone_per_day)
        self._scripts = Scripts(redis_client, "sms_rate")

    def take(self, phone: str, provider: str) -> RateLimitHit | None:
        """Count one SMS to ``phone``; the window that is full (nothing counted) when one is, logged."""
        moment = self._clock.now()
        now = int(moment.timestamp())
        buckets = (now // 60, now // 3600, moment.astimezone(self._tz).date().toordinal())
        phone_key = self._box.lookup_hash(phone, kind="sms-rate")
        counters = [keys.sms_rate(phone_key, name, bucket) for (name, _), bucket in zip(WINDOWS, buckets, strict=True)]
        lifetimes = [seconds + 60 for _, seconds in WINDOWS]
        counted, window = self._scripts.run("sms_rate", counters, [*self._limits, *lifetimes])
        if int(counted):
            return None
        name, limit = WINDOWS[int(window) - 1][0], self._limits[int(window) - 1]
        log.warning(
            "sms not sent: %s per-phone limit of %d per %s reached for %s",
            provider,
            limit,
            name,
            rules.mask_phone(phone),
            extra={"provider": provider, "window": name, "limit": limit},
        )
        return RateLimitHit(name, limit)
