"""A question answered Y or N (``回复 Y 确认, N 取消``): how the answer is read, and the answers it takes.

The booking's, the cancellation's and the move's confirmations and the question whether to join a full slot's
waitlist share one shape: Y (:func:`dialogs.parse.parse_yes_no`, or the prompt's own words for it) runs the step's
action, N its way out, and anything else is echoed and asked again while the question stays: never guessed. Which
intents such a step reads as its own answer rather than a switch to another dialog is
:data:`dialogs.intents.STEP_ANSWERS`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from dialogs import parse
from dialogs.machine import Flow, stays


class YesNoFlow(Flow):
    """How a dialog's Y/N question reads its answer; a dialog adds the words of its own prompt."""

    yes_words: ClassVar[frozenset[str]] = frozenset()
    """The prompt's own words that also say yes (``确认取消`` of "回复 Y 确认取消"), as ``Turn.text`` reads them."""
    no_words: ClassVar[frozenset[str]] = frozenset()
    """The prompt's own words that also say no (``2`` of "2 选其他时段")."""

    def said_yes(self) -> bool:
        return parse.parse_yes_no(self.turn.text) is True or self.turn.text in self.yes_words

    def said_no(self) -> bool:
        return parse.parse_yes_no(self.turn.text) is False or self.turn.text in self.no_words

    def ask_yes_no(self) -> None:
        """Neither Y nor N: what was typed, echoed, and the question asked again."""
        self.say("common.yes_no", text=self.turn.echo)


def yes_no(state: StrEnum, *, yes: str, no: str) -> list[dict[str, Any]]:
    """The answers to the Y/N question ``state``: Y runs ``yes``, N runs ``no``, anything else asks again. The state
    stays; ``yes`` and ``no`` move the dialog on themselves."""
    return [stays(state, yes, when="said_yes"), stays(state, no, when="said_no"), stays(state, "ask_yes_no")]
