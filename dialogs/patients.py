"""就诊人管理 (placeholder until the dialog lands: says so and returns to the menu)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from dialogs.machine import Dialog, Flow


class State(StrEnum):
    start = "start"


class _Flow(Flow):
    def ask_start(self) -> None:
        self.turn.say("common.busy")
        self.turn.switch("menu")


TRANSITIONS: list[dict[str, Any]] = [{"trigger": "answer", "source": State.start, "dest": None}]


class PatientsDialog(Dialog):
    """就诊人管理."""

    name = "patients"
    states = State
    transitions = TRANSITIONS
    flow = _Flow
