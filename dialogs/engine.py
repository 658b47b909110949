"""The message pipeline: dedupe → lock the user → load the session → one dialog step → save → unlock.

Webhooks call :meth:`Engine.answer` on the request thread with a normalised :class:`Inbound` and a deadline (WeChat
waits 5 s), and get an :class:`Answer`: the replies, or a hand-off to the worker when the step cannot give them in
time (the worker runs it, :meth:`Engine.finish_late`, and pushes the reply once); callers that wait whatever it takes
(console, simulator) call :meth:`Engine.handle`. A platform retry of a message already handled (same channel, user
and message id) gets the stored reply without a second step; a retry that arrives while the first delivery is still
being processed waits for it (within its own deadline). One user's messages are processed
one at a time (a Redis lock with a timeout, so a crashed process never silences a user). The delivery claim, the
lock with the load, and the save with the release, are Lua scripts (``bot/storage/lua/dialog_*.lua``): two round trips a
step. The delivery claim and the stored reply follow the one delivery ledger (:mod:`bot.delivery`), which seals
the reply (it may name a patient); the session's data is encrypted here, before it goes to Redis.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.delivery import DEFERRED, PENDING, PENDING_TTL_S, REPLY_TTL_S, DeliveryLedger, State
from bot.metrics import metrics
from bot.patients import account_id
from bot.records import text as text_of
from bot.schedule_cache import pinned
from bot.storage import keys
from bot.storage.scripts import Scripts
from dialogs import intents, parse, reschedule, waitlist
from dialogs.cancel import start_with_serial
from dialogs.context import Deps
from dialogs.machine import Dialog, UnknownStateError
from dialogs.menu import ENTRIES, booking_wish, follow_intent, open_dialog
from dialogs.message import Inbound, Outbound
from dialogs.session import KEEP_FOR, SCHEMA_VERSION, START_STATE, Session, session_fields, session_from_hash
from dialogs.turn import Turn
from texts import LANGUAGES, text

log = logging.getLogger(__name__)

_CANCEL_SERIAL = re.compile(r"(?:取消|cancel) ?#?([0-9]{8})")
LOCK_TIMEOUT_MS = 15_000
"""A lock older than this is a crashed holder's: it expires by itself."""
LOCK_WAIT_S = 10.0
"""How long a step without a reply deadline (console, simulator, the worker finishing a late one) waits for the lock."""
STEP_RESERVE_S = 0.5
"""Of a reply deadline, what the lock wait leaves for the step itself."""
_LOCK_POLL_S = 0.005
ONE_SHOT_DIALOGS = {
    "book": "book",
    "list": "appointments",
    "cancel": "cancel",
    "help": "help",
    "waitlist": "waitlist",
    "move": "reschedule",
}


class Fate(StrEnum):
    """What an adapter does with one delivery's :class:`Answer`."""

    ANSWERED = "answered"  # this delivery ran the step in time: answer with the replies (push what does not fit)
    REPLAYED = "replayed"  # a retry: the first delivery's replies (what did not fit was pushed by the first)
    LATER = "later"  # a retry of a delivery whose reply the worker pushes, or is still being worked on: answer nothing
    HAND_OFF = "hand_off"  # no reply in time (lock busy, or the step ran late): answer nothing, hand it to the worker


@dataclass(frozen=True)
class Answer:
    """The fate of one delivery within its deadline, and the replies to answer with now."""

    fate: Fate
    replies: list[Outbound]


HandOff = Callable[[Inbound, int], None]
"""``hand_off(inbound, answered)``: have the worker finish ``inbound`` (:meth:`Engine.finish_late`) and send its reply
from message ``answered`` on, once (the composition root's: ``app.late_replies.LateReplies``)."""


class StepBusyError(RuntimeError):
    """The worker could not take the user's lock for a handed-off step: the job fails and RQ retries it."""


class Conversation(Protocol):
    """What an adapter asks of the engine: the replies to one inbound message."""

    def handle(self, inbound: Inbound) -> list[Outbound]: ...

    def answer(self, inbound: Inbound, deadline: float) -> Answer: ...


@dataclass(frozen=True)
class _Begun:
    """One step's keys, lock token and moment, once ``dialog_begin.lua`` ran."""

    acct: str
    now: datetime
    held: list[str]
    seen: list[str]
    token: str


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
        """The replies to one message, for a caller that waits for them (console, simulator): the user's lock is
        waited for up to :data:`LOCK_WAIT_S`, then the busy text; a retry gets the first delivery's replies."""
        return self.answer(inbound, time.monotonic() + LOCK_WAIT_S + STEP_RESERVE_S, hand_off=False).replies

    def answer(self, inbound: Inbound, deadline: float, *, hand_off: bool = True) -> Answer:
        """The answer to one message by ``deadline`` (``time.monotonic()``), on the calling thread.

        Two round trips in the usual case: claim the delivery, take the lock, load the session, the account's
        language and whether it holds a waitlist offer, count the message for the rate limit, and read the schedule's
        version, pinned for the step (``dialog_begin.lua``; bot.schedule_cache); save the session, store the reply
        and release the lock (``dialog_end.lua``). Every wait is bounded by the deadline: a lock still busy at
        ``deadline - STEP_RESERVE_S`` hands the delivery to the worker (:data:`Fate.HAND_OFF`, the reply pushed
        later), and so does a step that ends after the deadline (its reply is stored for the worker to push).
        Without ``hand_off`` (no way to push later) a busy lock gets the busy text and the delivery is released.
        """
        begun, status = self._begin(inbound, "claim")
        outcome = text_of(status[0])
        if outcome == "seen":
            return self._retry(begun.seen[0], status[1], deadline)
        if outcome == "locked":
            status = self._wait_for_lock(begun, deadline - STEP_RESERVE_S)
            if status is None:
                return self._give_up(inbound, begun, hand_off)
        replies, pushed = self._run(inbound, begun, status, push_after=deadline if hand_off else math.inf)
        return Answer(Fate.HAND_OFF if pushed else Fate.ANSWERED, [Outbound(r) for r in replies])

    def finish_late(self, inbound: Inbound) -> list[Outbound]:
        """The worker's side of a hand-off: run the step of a delivery handed over (or get the replies stored by a
        step that ran late); run twice (an RQ retry), the step still runs once. Raises :class:`StepBusyError`
        when the user's lock stays busy for :data:`LOCK_WAIT_S`."""
        begun, status = self._begin(inbound, "resume")
        if text_of(status[0]) == "seen":
            return [Outbound(r) for r in self.ledger.settled(begun.seen[0], status[1], time.monotonic()).replies]
        if text_of(status[0]) == "locked":
            status = self._wait_for_lock(begun, time.monotonic() + LOCK_WAIT_S)
            if status is None:
                raise StepBusyError("the user's lock stayed busy")
        replies, _ = self._run(inbound, begun, status, push_after=-math.inf)
        return [Outbound(r) for r in replies]

    def _begin(self, inbound: Inbound, mode: str) -> tuple[_Begun, Any]:
        acct = account_id(self.deps.box, inbound.channel.value, inbound.user)
        if mode == "claim":  # the worker resuming a handed-over message counts it no second time
            metrics().messages_in.labels(inbound.channel.value).inc()
        now = self.deps.clock.now()
        held = [
            keys.user_lock(acct),
            keys.session(acct),
            keys.rate(acct, int(now.timestamp() // 60)),
            keys.account(acct),
            keys.account_offers(acct),
            keys.SCHEDULE_VERSION,
        ]
        seen = [keys.inbound_seen(inbound.channel.value, f"{acct}:{inbound.message_id}")] if inbound.message_id else []
        begun = _Begun(acct, now, held, seen, secrets.token_hex(8))
        return begun, self._scripts.run("dialog_begin", [*held, *seen], [*self._begin_args(begun), mode])

    @staticmethod
    def _begin_args(begun: _Begun) -> list[Any]:
        return [begun.token, LOCK_TIMEOUT_MS, PENDING, PENDING_TTL_S, DEFERRED]

    def _retry(self, seen: str, stored: Any, deadline: float) -> Answer:
        """A delivery already claimed: the first one's replies, or nothing when the worker pushes them (or the first
        is still at work when this retry's own time is up)."""
        settled = self.ledger.settled(seen, stored, deadline - STEP_RESERVE_S)
        if settled.state == State.REPLIED:
            return Answer(Fate.REPLAYED, [Outbound(r) for r in settled.replies])
        return Answer(Fate.LATER, [])

    def _give_up(self, inbound: Inbound, begun: _Begun, hand_off: bool) -> Answer:
        log.warning("user lock not acquired in time", extra={"channel": inbound.channel.value, "handed_off": hand_off})
        if hand_off:
            if begun.seen:
                self.ledger.hand_over(begun.seen[0])
            return Answer(Fate.HAND_OFF, [])
        if begun.seen:
            self.ledger.release(begun.seen[0])
        return Answer(Fate.ANSWERED, [Outbound(text("zh", "common.busy"))])

    def _run(self, inbound: Inbound, begun: _Begun, status: Any, *, push_after: float) -> tuple[list[str], bool]:
        """Load, step, save: the replies, and whether they were stored for the worker to push (the step ended after
        ``push_after``, and the delivery has a key to store them under)."""
        _, raw_session, sent_this_minute, language, offers, schedule_version = status
        box, acct, seen = self.deps.box, begun.acct, begun.seen
        session = session_from_hash(dict(zip(raw_session[::2], raw_session[1::2], strict=True)), box, acct)
        if session.is_new and language:
            session.language = text_of(language)
        with pinned(text_of(schedule_version)):
            replies = self._process(inbound, acct, session, begun.now, int(sent_this_minute), bool(offers))
        pushed = bool(seen) and time.monotonic() > push_after
        sealed = self.ledger.seal(seen[0], replies, pushed=pushed) if seen else ""
        args: list[Any] = [begun.token, int(KEEP_FOR.total_seconds()), sealed, REPLY_TTL_S]
        for name, value in session_fields(session, begun.now, box, acct).items():
            args += [name, value]
        self._scripts.run("dialog_end", [keys.session(acct), begun.held[0], *seen], args)
        metrics().messages_out.labels(inbound.channel.value, "reply").inc(len(replies))
        return replies, pushed

    def _wait_for_lock(self, begun: _Begun, until: float) -> Any:
        """Retry the lock until it is ours (then what ``dialog_begin.lua`` loaded with it), or None at ``until``.

        The delivery is already claimed: the retries pass no delivery key, so the script only locks and loads."""
        while time.monotonic() < until:
            time.sleep(_LOCK_POLL_S)
            status = self._scripts.run("dialog_begin", begun.held, [*self._begin_args(begun), "claim"])
            if text_of(status[0]) == "ok":
                return status
        return None

    def _process(
        self, inbound: Inbound, acct: str, session: Session, now: datetime, sent: int, offers: bool
    ) -> list[str]:
        turn = Turn(self.deps, inbound, acct, session, now, self._switch, offers_held=offers)
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
            if booking_wish(turn) is None:
                self.menu.start(turn)
                return  # else a booking sentence as the first words (明天上午内科): the menu takes it as it would later
        dialog = self.dialogs[session.state.partition(".")[0]]
        answered = session.state
        try:
            dialog.step(turn)
        except UnknownStateError:
            self._restart(turn, "common.unknown_state")
            return
        if answered in waitlist.OWN_YES_STATES:  # a Y answered it: a place held meanwhile is still to claim
            waitlist.recall_offer(turn)

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
        found = _CANCEL_SERIAL.fullmatch(turn.text)
        cancel = found[1] if found else None
        if serial is None and number is None and cancel is None:
            # in ordinary words around the serial: 取消预约 12345678, 我想改约 12345678, cancel my appointment …
            state = turn.session.state
            errand = None if intents.answers_step(state, turn.text) else intents.errand_with_serial(turn.text)
            if errand is not None and errand[0] in intents.STEP_ANSWERS.get(state, frozenset()):
                errand = None  # the step's own answer there (确认取消预约 12345678 at the cancellation's question)
            if errand is not None and errand[0] == intents.Intent.RESCHEDULE:
                serial = errand[1]
            elif errand is not None:
                cancel = errand[1]
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
            start_with_serial(turn, cancel)
        else:
            return False
        return True

    def _intent(self, turn: Turn) -> bool:
        """Follow what a message asks for in ordinary words (``我要挂号``, ``cancel my appointment``), from any step."""
        if intents.answers_step(turn.session.state, turn.text):
            return False  # the step reads it
        intent = intents.intent_at(turn.session.state, turn.text)  # a step's own answer is read by the step
        if intent in (intents.Intent.MENU, intents.Intent.HELP):
            self._command(turn, parse.Command(intent.value))
            return True
        # booking steps read a sentence themselves; verification and patients take free text (a name may hold 挂)
        reads_text = turn.session.state.partition(".")[0] in ("book", "verify", "patients")
        wish = None if reads_text else intents.booking_sentence(turn.text, turn.today())
        if intent is None and wish is None and not reads_text:  # 取消明天的预约, 预约查询: that errand, not a booking
            errand = intents.errand_of(turn.text)
            intent = None if errand in intents.STEP_ANSWERS.get(turn.session.state, frozenset()) else errand
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
