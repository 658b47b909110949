"""就诊人管理: list the account's patients, add one (verified by an OTP to *their* phone), switch, remove.

An account without a patient is sent straight to verification. Adding reuses the verification dialog with
``keep.purpose = "add"`` and comes back here; the account limit (RULES §1) is checked before asking anything and
enforced again by the service when the patient is written. Removing only stops this account managing the person:
the patient record, appointments and no-show standing stay attached to the ID number (RULES §1).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bot.patients import PatientService, PatientView, UnknownPatientError
from dialogs.confirm import YesNoFlow
from dialogs.machine import Dialog
from dialogs.message import Channel
from dialogs.parse import MatchKind

ACTIONS = ("add", "switch", "remove", "back")


class State(StrEnum):
    overview = "overview"
    pick_active = "pick_active"
    pick_remove = "pick_remove"
    confirm_remove = "confirm_remove"


class PatientsFlow(YesNoFlow):
    """Guards and questions of patient management."""

    @property
    def svc(self) -> PatientService:
        return self.turn.deps.patients

    # --- questions -------------------------------------------------------------------------------------
    def ask_overview(self) -> None:
        turn = self.turn
        views = self.svc.patients_of(turn.acct)
        if not views:
            self.say("verify.intro")
            turn.data["keep.after"] = "menu"
            turn.switch("verify")
            return
        current = self.current_pid()
        lines = [turn.t("patients.list_title")]
        lines += [f"· {self.describe(v, v.pid == current, full=True)}" for v in views]
        turn.paragraphs.append("\n".join(lines))
        labels = [turn.t(f"patients.action_{action}") for action in ACTIONS]
        turn.offer(turn.t("patients.actions_title"), labels, list(ACTIONS))

    def ask_pick_active(self) -> None:
        self.offer_patients("patients.ask_pick_active")

    def ask_pick_remove(self) -> None:
        self.offer_patients("patients.ask_pick_remove")

    def ask_confirm_remove(self) -> None:
        view = self.chosen_view()
        self.say("patients.ask_confirm_remove", name=view.name_masked if view else "")
        if not self.others_remain():
            self.say("patients.last_warning")

    # --- guards ----------------------------------------------------------------------------------------
    def action(self) -> str | None:
        match = self.turn.chosen()
        return str(match.value) if match.ok else None

    def picked_add(self) -> bool:
        return self.action() == "add"

    def picked_switch(self) -> bool:
        return self.action() == "switch"

    def picked_remove(self) -> bool:
        return self.action() == "remove"

    def picked_back(self) -> bool:
        return self.action() == "back"

    def has_room(self) -> bool:
        return len(self.svc.patient_ids(self.turn.acct)) < self.turn.deps.config.policy.max_patients_per_account

    def has_several(self) -> bool:
        return len(self.svc.patient_ids(self.turn.acct)) > 1

    def picked_patient(self) -> bool:
        match = self.turn.chosen()
        if match.ok:
            self.turn.data["pid"] = match.value
            return True
        # the list shows each ID's last four characters: "0024" is one of them, not option number 24
        tail = self.turn.text.upper()
        pids = [v.pid for v in self.svc.patients_of(self.turn.acct) if len(tail) == 4 and v.id_masked.endswith(tail)]
        if len(pids) == 1 and pids[0] in self.turn.data["options"]["values"]:
            self.turn.data["pid"] = pids[0]
            return True
        return False

    def others_remain(self) -> bool:
        pid = self.turn.data.get("pid")
        return any(other != pid for other in self.svc.patient_ids(self.turn.acct))

    # --- actions ---------------------------------------------------------------------------------------
    def start_add(self) -> None:
        self.say("verify.intro_family")
        self.turn.data["keep.purpose"] = "add"  # the code goes to the new patient's phone
        self.turn.data["keep.after"] = "patients"
        self.turn.switch("verify")

    def refuse_full(self) -> None:
        self.say("patients.full", limit=self.turn.deps.config.policy.max_patients_per_account)
        self.show_options()

    def refuse_only_one(self) -> None:
        self.say("patients.only_one")
        self.show_options()

    def back_to_menu(self) -> None:
        self.turn.switch("menu")

    def make_active(self) -> None:
        pid = str(self.turn.data["pid"])
        try:
            self.svc.set_active(self.turn.acct, pid)
        except UnknownPatientError:  # removed meanwhile (another channel of the same person)
            self.say("patients.gone")
            return
        view = self.svc.get(pid)
        self.say("patients.switched", name=view.name_masked if view else "")

    def remove_chosen(self) -> None:
        view = self.chosen_view()
        self.svc.remove(self.turn.acct, str(self.turn.data["pid"]))
        self.say("patients.removed", name=view.name_masked if view else "")

    def remove_last(self) -> None:
        view = self.chosen_view()
        self.svc.remove(self.turn.acct, str(self.turn.data["pid"]))
        self.say("patients.removed_last", name=view.name_masked if view else "")
        self.turn.switch("menu")

    def keep_chosen(self) -> None:
        view = self.chosen_view()
        self.say("patients.kept", name=view.name_masked if view else "")

    def reask_choice(self) -> None:
        match = self.turn.chosen()
        if match.kind == MatchKind.AMBIGUOUS:
            self.turn.say_ambiguous(match)
        else:
            self.say("common.not_an_option", text=self.turn.echo)
        self.show_options()

    def reask_confirm(self) -> None:
        view = self.chosen_view()
        self.say("patients.yes_no", name=view.name_masked if view else "")

    # --- helpers ---------------------------------------------------------------------------------------
    def current_pid(self) -> str | None:
        active = self.svc.active(self.turn.acct)
        return active.pid if active else None

    def chosen_view(self) -> PatientView | None:
        pid = self.turn.data.get("pid")
        return self.svc.get(str(pid)) if pid else None

    def describe(self, view: PatientView, current: bool, *, full: bool = False) -> str:
        """One patient on one line, masked; over SMS only the name and the ID's last four characters."""
        mark = self.turn.t("patients.current") if current else ""
        if self.turn.channel == Channel.sms or not full:
            return self.turn.t("patients.line_short", name=view.name_masked, tail=view.id_masked[-4:], current=mark)
        return self.turn.t(
            "patients.line", name=view.name_masked, id=view.id_masked, phone=view.phone_masked, current=mark
        )

    def offer_patients(self, title: str) -> None:
        views = self.svc.patients_of(self.turn.acct)
        current = self.current_pid()
        labels = [self.describe(v, v.pid == current) for v in views]
        self.turn.offer(self.turn.t(title), labels, [v.pid for v in views])

    def show_options(self) -> None:
        self.turn.show_page(int(self.turn.data.get("page", 0)))


TRANSITIONS: list[dict[str, Any]] = [
    {
        "trigger": "answer",
        "source": State.overview,
        "dest": None,
        "conditions": ["picked_add", "has_room"],
        "after": "start_add",
    },
    {"trigger": "answer", "source": State.overview, "dest": None, "conditions": "picked_add", "after": "refuse_full"},
    {
        "trigger": "answer",
        "source": State.overview,
        "dest": State.pick_active,
        "conditions": ["picked_switch", "has_several"],
    },
    {
        "trigger": "answer",
        "source": State.overview,
        "dest": None,
        "conditions": "picked_switch",
        "after": "refuse_only_one",
    },
    {"trigger": "answer", "source": State.overview, "dest": State.pick_remove, "conditions": "picked_remove"},
    {"trigger": "answer", "source": State.overview, "dest": None, "conditions": "picked_back", "after": "back_to_menu"},
    {"trigger": "answer", "source": State.overview, "dest": None, "after": "reask_choice"},
    {
        "trigger": "answer",
        "source": State.pick_active,
        "dest": State.overview,
        "conditions": "picked_patient",
        "before": "make_active",
    },
    {"trigger": "answer", "source": State.pick_active, "dest": None, "after": "reask_choice"},
    {"trigger": "answer", "source": State.pick_remove, "dest": State.confirm_remove, "conditions": "picked_patient"},
    {"trigger": "answer", "source": State.pick_remove, "dest": None, "after": "reask_choice"},
    {
        "trigger": "answer",
        "source": State.confirm_remove,
        "dest": State.overview,
        "conditions": ["said_yes", "others_remain"],
        "before": "remove_chosen",
    },
    {
        "trigger": "answer",
        "source": State.confirm_remove,
        "dest": None,
        "conditions": "said_yes",
        "after": "remove_last",
    },
    {
        "trigger": "answer",
        "source": State.confirm_remove,
        "dest": State.overview,
        "conditions": "said_no",
        "before": "keep_chosen",
    },
    {"trigger": "answer", "source": State.confirm_remove, "dest": None, "after": "reask_confirm"},
]


class PatientsDialog(Dialog):
    """就诊人管理."""

    name = "patients"
    states = State
    transitions = TRANSITIONS
    flow = PatientsFlow
