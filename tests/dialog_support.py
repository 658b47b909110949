"""Transcript helpers: talk to the bot through the real pipeline (engine, sessions, locks) on a real Redis."""

from __future__ import annotations

import itertools
import re

from app.services import build_engine
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from tests.support import Services

_ids = itertools.count(1)


class Chat:
    """One user of one channel talking to the bot."""

    def __init__(self, services: Services, channel: Channel = Channel.wechat, user: str = "openid-a") -> None:
        self.services = services
        self.engine: Engine = build_engine(services)
        self.channel = channel
        self.user = user
        self.transcript: list[tuple[str, str]] = []

    def send(self, typed: str, message_id: str | None = None) -> str:
        """Send one message; the replies joined by blank lines, as WeChat shows them."""
        inbound = Inbound(self.channel, self.user, typed, message_id or f"m{next(_ids)}")
        reply = "\n\n".join(o.text for o in self.engine.handle(inbound))
        self.transcript.append((typed, reply))
        return reply

    def event(self, name: str) -> str:
        """Deliver a platform event (e.g. ``subscribe``)."""
        reply = "\n\n".join(o.text for o in self.engine.handle(Inbound(self.channel, self.user, "", None, name)))
        self.transcript.append((f"<{name}>", reply))
        return reply

    def last_code(self, phone: str) -> str:
        """The newest SMS code sent to ``phone``, read from the outbox as a person would read their phone."""
        texts = [m["text"] for m in self.services.outbox.messages_for(phone) if m["kind"] == "otp"]
        assert texts, f"no code sent to {phone}"
        found = re.search(r"\d{6}", texts[-1])
        assert found is not None
        return found.group()

    def verify(self, name: str, id_number: str, phone: str) -> str:
        """Walk through verification from the name question; the reply to the code."""
        self.send(name)
        self.send(id_number)
        if self.channel == Channel.sms:
            return self.transcript[-1][1]
        self.send(phone)
        return self.send(self.last_code(phone))
