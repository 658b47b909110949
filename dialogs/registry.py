"""Every dialog of the bot, by the name its states are prefixed with (``book.slot``)."""

from __future__ import annotations

from dialogs.book import BookDialog
from dialogs.cancel import CancelDialog
from dialogs.machine import Dialog
from dialogs.menu import MenuDialog
from dialogs.my_appointments import AppointmentsDialog
from dialogs.patients import PatientsDialog
from dialogs.reschedule import RescheduleDialog
from dialogs.verify import VerifyDialog
from dialogs.waitlist import WaitlistDialog


def all_dialogs() -> dict[str, Dialog]:
    """One instance of each dialog (their machines are built once per process, on first use)."""
    dialogs: list[Dialog] = [
        MenuDialog(),
        VerifyDialog(),
        BookDialog(),
        AppointmentsDialog(),
        CancelDialog(),
        PatientsDialog(),
        WaitlistDialog(),
        RescheduleDialog(),
    ]
    return {d.name: d for d in dialogs}
