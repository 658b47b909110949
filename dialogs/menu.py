"""The main menu (SPEC §5): 1. 预约挂号 2. 我的预约 3. 取消预约 4. 就诊人管理 5. 帮助."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from dialogs.machine import Dialog, Flow

# menu number -> (dialog, needs a verified patient, words that choose it)
ENTRIES: dict[int, tuple[str, bool, tuple[str, ...]]] = {
    1: ("book", True, ("预约挂号", "预约", "挂号", "book", "booking")),
    2: ("appointments", True, ("我的预约", "查询", "my appointments", "appointments", "list")),
    3: ("cancel", True, ("取消预约", "取消", "cancel")),
    4: ("patients", False, ("就诊人管理", "就诊人", "patients")),
    5: ("help", False, ("帮助", "help")),
}


class State(StrEnum):
    main = "main"


class MenuFlow(Flow):
    """Shows the menu and routes the choice."""

    def ask_main(self) -> None:
        self.say("common.menu")

    def route(self) -> None:
        text = self.turn.text
        for number, (dialog, needs_patient, words) in ENTRIES.items():
            if text == str(number) or text in words:
                open_dialog(self.turn, dialog, needs_patient)
                return
        self.say("common.menu_unknown", text=self.turn.echo)
        self.say("common.menu")


def open_dialog(turn: Any, dialog: str, needs_patient: bool = True) -> None:
    """Start ``dialog``; an account without a verified patient is first walked through verification."""
    if dialog == "help":
        turn.say("common.help")
        turn.say("common.menu")
        return
    if needs_patient and not turn.deps.patients.patient_ids(turn.acct):
        turn.say("verify.intro")
        turn.data["keep.after"] = dialog  # kept through the switch: where to go once verified
        turn.switch("verify")
        return
    turn.switch(dialog)


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "answer", "source": State.main, "dest": None, "after": "route"},
]


class MenuDialog(Dialog):
    """主菜单."""

    name = "menu"
    states = State
    transitions = TRANSITIONS
    flow = MenuFlow
