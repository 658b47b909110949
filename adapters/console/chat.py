"""``guahao chat``: the bot in a terminal, through the same pipeline as WeChat and SMS (console channel).

Messages the bot pushes elsewhere (the SMS code sent to the phone you typed) are printed inline, so that a person
can verify and book end to end on the embedded Redis.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

import rules
from bot.patients import account_id
from bot.services import Services
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from texts import DEFAULT_LANGUAGE, text


def run_chat(
    services: Services,
    engine: Engine,
    user: str | None,
    read: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
) -> int:
    """Talk to ``engine`` until end of input or Ctrl-C; returns the exit code."""
    user = user or _login()
    cursor = services.outbox.latest_id()  # only what is pushed from now on
    print(f"guahao chat as console user {user!r} — type 菜单 for the menu, Ctrl-D to leave.", file=out)
    number = 0
    acct = account_id(services.box, Channel.console.value, user)
    while True:
        lang = services.patients.account_language(acct) or DEFAULT_LANGUAGE  # 中文/English switch it
        try:
            typed = read(text(lang, "common.prompt"))
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        if not typed.strip():
            continue
        number += 1
        for reply in engine.handle(Inbound(Channel.console, user, typed, f"console-{number}")):
            print(f"bot> {reply.text}", file=out)
        cursor, pushed = services.outbox.since(cursor)
        for message in pushed:
            to = rules.mask_phone(message["to"]) if message["channel"] == "sms" else message["to"]
            print(f"  [{message['channel']} → {to}, {message['kind']}] {message['text']}", file=out)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console"
