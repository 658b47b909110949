"""What goes into and comes out of a dialog step, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    """Where a message came from; SMS users are their phone number, WeChat users their openid."""

    wechat = "wechat"
    sms = "sms"
    console = "console"


@dataclass(frozen=True)
class Inbound:
    """One normalised message from a user: the adapters build it from XML, a Twilio form or a terminal line."""

    channel: Channel
    user: str
    text: str
    message_id: str | None = None
    event: str | None = None  # e.g. "subscribe" for a WeChat event; ``text`` is then empty
    command: str | None = None  # a channel's one-shot command: "book", "list", "help", "cancel <serial>"
    department: tuple[str, str] | None = None  # (hospital, department): a department's QR code was scanned


@dataclass(frozen=True)
class Outbound:
    """One reply paragraph; the adapter joins or splits them as its channel needs."""

    text: str
