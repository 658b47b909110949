"""The message pipeline: dedupe → lock the user → load the session → one dialog step → save → unlock.

Adapters call :meth:`Engine.handle` with a normalised :class:`Inbound` and get the replies back. A platform retry of
a message already handled (same channel, user and message id) gets the stored reply without a second step; a retry
that arrives while the first delivery is still being processed waits for it. One user's messages are processed
one at a time (a Redis lock with a timeout, so a crashed process never silences a user).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

import redis
from redis.exceptions import LockError

from bot import keys
from bot.patients import account_id
from dialogs import parse
from dialogs.context import Deps
from dialogs.machine import Dialog, UnknownStateError
from dialogs.menu import ENTRIES
from dialogs.message import Inbound, Outbound
from dialogs.session import SCHEMA_VERSION, START_STATE, SessionStore
from dialogs.texts import LANGUAGES, text
from dialogs.turn import Turn

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 15.0
"""A lock older than this is a crashed holder's: it expires by itself."""
LOCK_WAIT_S = 10.0
PENDING = b"\x00pending"
PENDING_TTL_S = 30
REPLY_TTL_S = 24 * 3600
RETRY_WAIT_S = 4.5
"""How long a platform retry waits for the first delivery's reply (WeChat gives up after 5 s)."""


class Engine:
    """Runs one dialog step per inbound message."""

    def __init__(self, deps: Deps, dialogs: Mapping[str, Dialog]) -> None:
        self.deps = deps
        self.redis: redis.Redis = deps.redis
        self.sessions = SessionStore(deps.redis)
        self.dialogs = dialogs
        self.menu = dialogs["menu"]

    # --- the pipeline ----------------------------------------------------------------------------------
    def handle(self, inbound: Inbound) -> list[Outbound]:
        """The replies to one message; the same message delivered again gets the same replies, once processed."""
        acct = account_id(self.deps.box, inbound.channel.value, inbound.user)
        seen = keys.inbound_seen(inbound.channel.value, f"{acct}:{inbound.message_id}") if inbound.message_id else None
        if seen is not None and not self.redis.set(seen, PENDING, nx=True, ex=PENDING_TTL_S):
            return self._reply_of_first_delivery(seen)
        try:
            with self.redis.lock(
                keys.user_lock(acct), timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_WAIT_S, sleep=0.01
            ):
                replies = self._process(inbound, acct)
        except LockError:
            log.warning("user lock not acquired", extra={"channel": inbound.channel.value})
            replies = [text("zh", "common.busy")]
            if seen is not None:
                self.redis.delete(seen)  # let the platform's retry try again
            return [Outbound(r) for r in replies]
        if seen is not None:
            self.redis.set(seen, json.dumps(replies, ensure_ascii=False), ex=REPLY_TTL_S)
        return [Outbound(r) for r in replies]

    def _reply_of_first_delivery(self, seen: str) -> list[Outbound]:
        deadline = time.monotonic() + RETRY_WAIT_S
        while True:
            stored = self.redis.get(seen)
            if stored is None:
                return []  # the first delivery failed and was released; nothing to repeat
            if stored != PENDING:
                return [Outbound(r) for r in json.loads(stored)]
            if time.monotonic() > deadline:
                return []  # still working on it: the adapter answers without a reply this time
            time.sleep(0.02)

    def _process(self, inbound: Inbound, acct: str) -> list[str]:
        now = self.deps.clock.now()
        session = self.sessions.load(acct)
        if session.is_new:
            session.language = self.deps.patients.account_language(acct) or session.language
        turn = Turn(self.deps, inbound, acct, session, now, self._switch)
        try:
            if self._rate_limited(acct, now.timestamp()):
                turn.say("common.rate_limited")
            else:
                self._step(turn)
        except Exception:
            # an unexpected failure: logged with context (never personal data), the user told, the step reset
            log.exception("dialog step failed", extra={"channel": inbound.channel.value, "state": session.state})
            turn.paragraphs = [turn.t("common.busy")]
            session.reset()
        self.sessions.save(acct, session, now)
        return turn.paragraphs

    def _rate_limited(self, acct: str, epoch: float) -> bool:
        key = keys.rate(acct, int(epoch // 60))
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
        return int(count) > self.deps.config.policy.rate_limit_per_minute

    # --- one step --------------------------------------------------------------------------------------
    def _step(self, turn: Turn) -> None:
        session = turn.session
        if turn.inbound.event == "subscribe":
            turn.say("common.welcome")
            self.menu.start(turn)
            return
        if session.schema != SCHEMA_VERSION or session.state.partition(".")[0] not in self.dialogs:
            self._restart(turn, "common.unknown_state")
            return
        if session.idle(turn.now) and session.state != START_STATE:
            self._restart(turn, "common.idle_reset")
            return
        command = parse.parse_command(turn.text)
        if command is not None:
            self._command(turn, command)
            return
        if session.is_new and session.state == START_STATE and not _is_menu_choice(turn.text):
            turn.say("common.welcome")
            self.menu.start(turn)
            return
        dialog = self.dialogs[session.state.partition(".")[0]]
        try:
            dialog.step(turn)
        except UnknownStateError:
            self._restart(turn, "common.unknown_state")

    def _restart(self, turn: Turn, notice: str) -> None:
        turn.session.reset()
        turn.say(notice)
        self.menu.start(turn)

    def _command(self, turn: Turn, command: parse.Command) -> None:
        session = turn.session
        if command == parse.Command.MENU:
            session.reset()
            self.menu.start(turn)
        elif command == parse.Command.EXIT:
            if session.state != START_STATE:
                turn.say("common.left_step")
            session.reset()
            self.menu.start(turn)
        elif command == parse.Command.HELP:
            turn.say("common.help")
            self._reprompt(turn)
        elif command in (parse.Command.ENGLISH, parse.Command.CHINESE):
            session.language = "en" if command == parse.Command.ENGLISH else "zh"
            assert session.language in LANGUAGES
            self.deps.patients.set_account_language(turn.acct, session.language)
            turn.say("common.language_set")
            self._reprompt(turn)
        elif command == parse.Command.MORE and not turn.show_page(int(turn.data.get("page", 0)) + 1):
            turn.say("common.no_more")

    def _reprompt(self, turn: Turn) -> None:
        try:
            self.dialogs[turn.session.state.partition(".")[0]].reprompt(turn)
        except (UnknownStateError, KeyError):
            self._restart(turn, "common.unknown_state")

    def _switch(self, turn: Turn, dialog: str) -> None:
        if dialog == "menu":
            turn.session.data = {}
        self.dialogs[dialog].start(turn)


def _is_menu_choice(typed: str) -> bool:
    return any(typed == str(n) or typed in words for n, (_, _, words) in ENTRIES.items())
