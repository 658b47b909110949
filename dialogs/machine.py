"""Dialogs as state machines on ``transitions``: states a ``StrEnum``, transitions a list of dicts, guards methods.

Each dialog's ``Machine`` is built **once per process** (building one costs milliseconds; firing a trigger on a
saved state costs microseconds, see DESIGN.md). Per message a small :class:`Flow` model is made with the saved
state and the machine fires ``answer`` on it; the machine keeps no reference to the model, so concurrent
messages of different users never share anything mutable.

Every state is a question: entering it calls ``Flow.prompt``, which calls ``ask_<state>``. Transitions for
``answer`` are tried in order; the first whose conditions hold is taken, so a dialog lists the good answers first
and ends each state with a fallback that explains the mistake and stays (``dest: None``; :func:`stays` builds such a
row with its callback).
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Any, ClassVar

from transitions import Machine

from bot.errors import GuahaoError
from dialogs.turn import Turn


class UnknownStateError(GuahaoError):
    """A stored state this version of the dialog does not have (an upgrade renamed it)."""


def stays(source: StrEnum, after: str, *, when: str | None = None) -> dict[str, Any]:
    """An ``answer`` at ``source`` that keeps the state: ``after`` runs (when the guard ``when`` holds, else always)
    and says what follows, or moves the dialog on itself."""
    transition: dict[str, Any] = {"trigger": "answer", "source": source, "dest": None, "after": after}
    if when is not None:
        transition["conditions"] = when
    return transition


class Flow:
    """The per-message model a dialog's machine drives."""

    def __init__(self, turn: Turn, state: StrEnum, machine: Machine) -> None:
        self.turn = turn
        self.state = state
        self.machine = machine

    def prompt(self) -> None:
        """Ask the question of the current state."""
        getattr(self, f"ask_{self.state.value}")()

    def fire(self, event: str) -> None:
        """Fire another event from inside a callback (e.g. skip a question whose answer is already known)."""
        self.machine.events[event].trigger(self)

    def say(self, key: str, **values: Any) -> None:
        """Shorthand for ``self.turn.say``."""
        self.turn.say(key, **values)


class Dialog:
    """A conversation: its states, its transitions, its flow class; one instance serves every user."""

    name: ClassVar[str]
    states: ClassVar[type[StrEnum]]
    transitions: ClassVar[list[dict[str, Any]]]
    flow: ClassVar[type[Flow]]
    _machine: ClassVar[Machine | None] = None
    _build_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def machine(cls) -> Machine:
        """The dialog's machine, built on first use."""
        if cls.__dict__.get("_machine") is None:
            with cls._build_lock:
                if cls.__dict__.get("_machine") is None:
                    machine = Machine(
                        model=None,
                        states=cls.states,
                        transitions=cls.transitions,
                        initial=None,
                        auto_transitions=False,
                    )
                    for state in cls.states:
                        machine.get_state(state).add_callback("enter", "prompt")
                    cls._machine = machine
        built: Machine = cls.__dict__["_machine"]
        return built

    def state_of(self, turn: Turn) -> StrEnum:
        """The saved state of this dialog, or ``UnknownStateError``."""
        _, _, name = turn.session.state.partition(".")
        try:
            return self.states(name)
        except ValueError:
            raise UnknownStateError(turn.session.state) from None

    def start(self, turn: Turn, state: StrEnum | None = None) -> None:
        """Enter the dialog at its first state (or ``state``) and ask its question."""
        first = state or next(iter(self.states))
        turn.session.state = f"{self.name}.{first.value}"
        flow = self.flow(turn, first, self.machine())
        flow.prompt()
        if turn.session.state == f"{self.name}.{first.value}":
            turn.session.state = f"{self.name}.{flow.state.value}"  # a prompt may have skipped ahead

    def step(self, turn: Turn) -> None:
        """Take the user's answer in the saved state."""
        before = turn.session.state
        flow = self.flow(turn, self.state_of(turn), self.machine())
        flow.machine.events["answer"].trigger(flow)
        if turn.session.state == before:  # nobody switched to another dialog meanwhile
            turn.session.state = f"{self.name}.{flow.state.value}"

    def reprompt(self, turn: Turn) -> None:
        """Ask the current question again (after help, a language switch, an idle notice)."""
        before = turn.session.state
        flow = self.flow(turn, self.state_of(turn), self.machine())
        flow.prompt()
        if turn.session.state == before:
            turn.session.state = f"{self.name}.{flow.state.value}"  # a prompt may have skipped ahead
