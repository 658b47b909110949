"""The message pipeline: dedupe → lock the user → load the session → one dialog step → save → unlock.

Adapters call :meth:`Engine.handle` with a normalised :class:`Inbound` and get the replies back. A platform retry of
a message already handled (same channel, user and message id) gets the stored reply without a second step; a retry
that arrives while the first delivery is still being processed waits for it. One user's messages are processed
one at a time (a Redis lock with a timeout, so a crashed process never silences a user). The delivery claim, the
lock with the load, and the save with the release, are Lua scripts (``bot/storage/lua/dialog_*.lua``): two round trips a
step. The delivery claim and the stored reply follow the one delivery ledger (:mod:`bot.delivery`), which seals
the reply (it may name a patient); the session's data is encrypted here, before it goes to Redis.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from bot.delivery import PENDING, PENDING_TTL_S, REPLY_TTL_S, DeliveryLedger
from bot.metrics import metrics
from bot.patients import account_id
from bot.records import text as text_of
from bot.storage import keys
from bot.storage.scripts import Scripts
from dialogs import intents, parse, reschedule, waitlist
from dialogs.cancel import start_with_serial
from dialogs.context import Deps
from dialogs.machine import Dialog, UnknownStateError
from dialogs.menu import ENTRIES, follow_intent, open_dialog
from dialogs.message import Inbound, Outbound
from dialogs.session import KEEP_FOR, SCHEMA_VERSION, START_STATE, Session, session_fields, session_from_hash
from dialogs.turn import Turn
from texts import LANGUAGES, text

log = logging.getLogger(__name__)

_CANCEL_SERIAL = re.compile(r"(?:取消|cancel) ?#?([0-9]{8})")
LOCK_TIMEOUT_MS = 15_000
"""A lock older than this is a crashed holder's: it expires by itself."""
LOCK_WAIT_S = 10.0
ONE_SHOT_DIALOGS = {
    "book": "book",
    "list": "appointments",
    "cancel": "cancel",
    "help": "help",
    "waitlist": "waitlist",
    "move": "reschedule",
}


class Conversation(Protocol):
    """What an adapter asks of the engine: the replies to one inbound message (:meth:`Engine.handle`)."""

    def handle(self, inbound: Inbound) -> list[Outbound]: ...


class Engine:
    """Runs one dialog step per inbound message."""

    def __init__(self, deps: Deps, dialogs: Mapping[str, Dialog]) -> None:
        self.deps = deps
        self.dialogs = dialogs
        self.menu = dialogs["menu"]
        self.ledger = DeliveryLedger(deps.redis, deps.box)
        """The delivery ledger this engine claims in: adapters answering a delivery themselves use it too."""
        self._scripts = Scripts(deps.redis, "dialog_begin", "dialog_end")

    # --- the pipeline ----------------------------------------------------------------------------------
    def handle(self, inbound: Inbound) -> list[Outbound]:
        """The replies to one message; the same message delivered again gets the same replies, once processed.

        Two round trips in the usual case: claim the delivery, take the lock, load the session and count the
        message for the rate limit (``dialog_begin.lua``); save the session, store the reply and release the lock
        (``dialog_end.lua``).
        """
        acct = account_id(self.deps.box, inbound.channel.value, inbound.user)
        metrics().messages_in.labels(inbound.channel.value).inc()
        now = self.deps.clock.now()
        held = [keys.user_lock(acct), keys.session(acct), keys.rate(acct, int(now.timestamp() // 60))]
        seen = [keys.inbound_seen(inbound.channel.value, f"{acct}:{inbound.message_id}")] if inbound.message_id else []
        token = secrets.token_hex(8)
        status = self._scripts.run("dialog_begin", [*held, *seen], [token, LOCK_TIMEOUT_MS, PENDING, PENDING_TTL_S])
        outcome = text_of(status[0])
        if outcome == "seen":
            return [Outbound(r) for r in self.ledger.replies_of(seen[0], status[1])]
        if outcome == "locked":
            status = self._wait_for_lock(held, token)
            if status is None:
                log.warning("user lock not acquired", extra={"channel": inbound.channel.value})
                if seen:
                    self.ledger.release(seen[0])
                return [Outbound(text("zh", "common.busy"))]
        _, raw_session, sent_this_minute = status
        box = self.deps.box
        session = session_from_hash(dict(zip(raw_session[::2], raw_session[1::2], strict=True)), box, acct)
        replies = self._process(inbound, acct, session, now, int(sent_this_minute))
        sealed = self.ledger.seal(seen[0], replies) if seen else ""
        args: list[Any] = [token, int(KEEP_FOR.total_seconds()), sealed, REPLY_TTL_S]
        for name, value in session_fields(session, now, box, acct).items():
            args += [name, value]
        self._scripts.run("dialog_end", [keys.session(acct), held[0], *seen], args)
        metrics().messages_out.labels(inbound.channel.value, "reply").inc(len(replies))
        return [Outbound(r) for r in replies]

    def _wait_for_lock(self, held: list[str], token: str) -> Any:
        """Retry the lock until it is ours (then what ``dialog_begin.lua`` loaded with it), or None after a while.

        The delivery is already claimed: the retries pass no delivery key, so the script only locks and loads."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(0.005)
            status = self._scripts.run("dialog_begin", held, [token, LOCK_TIMEOUT_MS, PENDING, PENDING_TTL_S])
            if text_of(status[0]) == "ok":
                return status
        return None

    def _process(self, inbound: Inbound, acct: str, session: Session, now: datetime, sent: int) -> list[str]:
        if session.is_new:
            session.language = self.deps.patients.account_language(acct) or session.language
        turn = Turn(self.deps, inbound, acct, session, now, self._switch)
        try:
            if sent > self.deps.config.policy.rate_limit_per_minute:
                # the count is per minute of the deployment clock (dialog_begin.lua): it starts again at the next one
                turn.say("common.rate_limited", seconds=60 - int(now.timestamp()) % 60)
            else:
                self._step(turn)
        except Exception:
            # an unexpected failure: logged with context (never personal data), the user told, the step reset
            log.exception("dialog step failed", extra={"channel": inbound.channel.value, "state": session.state})
            metrics().dialog_errors.inc()
            turn.paragraphs = [turn.t("common.busy")]
            session.reset()
        return turn.paragraphs

    # --- one step --------------------------------------------------------------------------------------
    def _step(self, turn: Turn) -> None:
        session = turn.session
        if turn.inbound.department is not None:
            self._scanned(turn, *turn.inbound.department)
            return
        if turn.inbound.event == "subscribe":
            turn.say("common.welcome")
            self.menu.start(turn)
            return
        if turn.inbound.command:
            self._one_shot(turn, turn.inbound.command)
            return
        if session.schema != SCHEMA_VERSION or session.state.partition(".")[0] not in self.dialogs:
            self._restart(turn, "common.unknown_state")
            return
        if session.idle(turn.now) and session.state != START_STATE:
            self._restart(turn, "common.idle_reset")
            return
        command = parse.parse_command(turn.inbound.text)  # the raw text: normalizing strips a bare "?"
        if command is not None:
            self._command(turn, command)
            return
        if waitlist.answer_offer(turn) or self._shortcut(turn):
            return
        if self._intent(turn):
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

    def _one_shot(self, turn: Turn, command: str) -> None:
        """A channel's one-shot command (SMS ``BOOK``, ``CANCEL 12345678``...): that conversation, from any step."""
        name, _, argument = command.partition(" ")
        if name == "waitlist" and turn.session.state == "waitlist.joining":  # 候补 there answers the question: join
            self.dialogs["waitlist"].step(turn)
            return
        if waitlist.answer_offer(turn):  # a held place is claimed by Y wherever the patient is
            return
        turn.session.reset()
        known = bool(argument.strip()) and bool(self.deps.patients.patient_ids(turn.acct))
        if name == "cancel" and known:
            start_with_serial(turn, argument)
            return
        if name == "move" and known:
            reschedule.start_with_serial(turn, argument)
            return
        if name == "leave" and known:
            waitlist.leave(turn, int(argument))
            turn.switch("menu")
            return
        open_dialog(turn, ONE_SHOT_DIALOGS.get(name, "help"))

    def _scanned(self, turn: Turn, hospital: str, department: str) -> None:
        """A department's QR code (WeChat ``SCAN``, or a follow through it): booking there, from any step, asking
        only what is still unknown (a follow is welcomed first)."""
        if turn.inbound.event == "subscribe":
            turn.say("common.welcome")
        turn.session.reset()
        open_dialog(turn, "book", preset={"hospital": hospital, "department": department})

    def _shortcut(self, turn: Turn) -> bool:
        """``改约 <serial>``, ``退出候补 <n>`` (and ``取消 <serial>``) typed on any channel, from any step."""
        serial = reschedule.serial_of(turn.text)
        number = waitlist.leave_number(turn.text)
        cancel = _CANCEL_SERIAL.fullmatch(turn.text)
        if (serial is None and number is None and cancel is None) or not self.deps.patients.patient_ids(turn.acct):
            return False
        if serial is not None:
            turn.session.reset()
            reschedule.start_with_serial(turn, serial)
        elif number is not None:
            turn.session.reset()
            waitlist.leave(turn, number)
            turn.switch("menu")
        elif cancel is not None and turn.session.state != "cancel.choose":
            turn.session.reset()
            start_with_serial(turn, cancel[1])
        else:
            return False
        return True

    def _intent(self, turn: Turn) -> bool:
        """Follow what a message asks for in ordinary words (``我要挂号``, ``cancel my appointment``), from any step."""
        intent = intents.intent_at(turn.session.state, turn.text)  # a step's own answer is read by the step
        if intent in (intents.Intent.MENU, intents.Intent.HELP):
            self._command(turn, parse.Command(intent.value))
            return True
        # booking steps read a sentence themselves; verification and patients take free text (a name may hold 挂)
        reads_text = turn.session.state.partition(".")[0] in ("book", "verify", "patients")
        wish = None if reads_text else intents.booking_sentence(turn.text, turn.today())
        if intent is None and wish is None:
            return False
        follow_intent(turn, intent or intents.Intent.BOOK, wish)
        return True

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
