"""The main menu (SPEC §5): 1. 预约挂号 2. 我的预约 3. 取消预约 4. 就诊人管理 5. 帮助."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from dialogs import intents, parse
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
        wish = booking_wish(self.turn)
        if wish is not None:
            open_dialog(self.turn, "book", wish=wish)  # a booking sentence: 明天上午心内科
            return
        if parse.parse_yes_no(text) is not None:
            if not self.said_held_offer():
                self.say("common.nothing_to_confirm")
        else:
            self.say("common.menu_unknown", text=self.turn.echo)
        self.say("common.menu")

    def said_held_offer(self) -> bool:
        """A yes/no at the menu while a waitlist place is held for the account (a Y would have claimed it): the place,
        and how to book it or give it up, rather than "nothing to confirm"."""
        turn = self.turn
        offer = turn.deps.waitlist.pending_offer(turn.acct)
        if offer is None:
            return False
        from dialogs.waitlist import entry_text  # here: dialogs.waitlist imports the booking dialog, which needs menu

        entries = turn.deps.waitlist.of_account(turn.acct)
        number = next((n for n, e in enumerate(entries, start=1) if e.id == offer.id), 1)
        turn.say("waitlist.offer_still_held", item=entry_text(turn, number, offer)[len(f"{number}. ") :], n=number)
        return True


def booking_wish(turn: Any) -> intents.Wish | None:
    """What to book, when the message at the menu is a booking sentence without the booking word (``明天上午心内科``,
    a department, a doctor's name); else None."""
    wish = intents.wish_of(turn.text, turn.today())
    if wish.day or wish.bad_day or wish.period or wish.level or _names_department(turn, wish):
        return wish
    return None


def _names_department(turn: Any, wish: intents.Wish) -> bool:
    """Whether the words of a sentence name a department of some hospital (``心内科``, ``cardiology``)."""
    options = [
        parse.Option(d.name, d.id, (d.name_en,) if d.name_en else ())
        for h in turn.deps.schedule.hospitals()
        for d in h.departments
    ]
    if any(
        words and parse.parse_number(words) is None and parse.match_option(words, options).kind != "none"
        for words in (wish.words, wish.plain)
    ):
        return True
    return len(wish.plain) > 1 and _names_doctor(turn, wish.plain)


def _names_doctor(turn: Any, typed: str) -> bool:
    """Whether a doctor of that name has a slot in the next fortnight (``李娜``: a booking with that doctor)."""
    schedule, today = turn.deps.schedule, turn.today()
    days = [(today + timedelta(days=n)).isoformat() for n in range(15)]
    return any(
        typed in parse.normalize(slot.doctor_name or slot.doctor)
        for h in schedule.hospitals()
        for d in h.departments
        for day in set(schedule.dates(h.id, d.id)).intersection(days)
        for slot in schedule.slots(h.id, d.id, day)
    )


def follow_intent(turn: Any, intent: intents.Intent, wish: intents.Wish | None = None) -> None:
    """Leave the current step for what the patient asked (``我要挂号``, ``cancel my appointment``, ``改约``)."""
    turn.session.reset()
    dialog = {
        intents.Intent.LIST: "appointments",
        intents.Intent.CANCEL: "cancel",
        intents.Intent.RESCHEDULE: "reschedule",
        intents.Intent.WAITLIST: "waitlist",
    }.get(intent, "book")
    open_dialog(turn, dialog, wish=wish)


def open_dialog(
    turn: Any,
    dialog: str,
    needs_patient: bool = True,
    wish: intents.Wish | None = None,
    preset: dict[str, str] | None = None,
) -> None:
    """Start ``dialog``; an account without a verified patient is first walked through verification. ``preset``:
    the hospital and department already chosen (a department's QR code)."""
    wished = {**(wish.to_data() if wish is not None else {}), **(preset or {})}
    if wished:
        turn.data["keep.wish"] = wished  # what a booking sentence or a QR code named, kept through verification
    if dialog == "help":
        turn.say("common.help")
        turn.say("common.menu")
        return
    managed = turn.deps.patients.patient_ids(turn.acct) if needs_patient else None
    if needs_patient and not managed:
        turn.say("verify.intro")
        turn.data["keep.after"] = dialog  # kept through the switch: where to go once verified
        turn.switch("verify")
        return
    turn.managed = managed  # the booking's first question lists them: not read twice in one step
    try:
        turn.switch(dialog)
    finally:
        turn.managed = None


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "answer", "source": State.main, "dest": None, "after": "route"},
]


class MenuDialog(Dialog):
    """主菜单."""

    name = "menu"
    states = State
    transitions = TRANSITIONS
    flow = MenuFlow
