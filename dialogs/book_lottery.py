"""The booking dialog's lottery branch (SPEC §8 "Release rush"): inside a day's lottery window, the confirmed request
registers the patient in the draw instead of booking, and the reply says so and when the result comes. Outside a
window (or with ``release_mode = "first_come"``) nothing happens here and the booking goes on as usual; a refused
entry (anti-scalping, a limit) raises ``BookingRefused`` like a refused booking.
"""

from __future__ import annotations

from datetime import date

from bot.lottery import Registration
from dialogs.book_base import BookBase
from texts import format as words


class BookLottery(BookBase):
    """Registration in a release lottery, from the booking's confirmation."""

    def registered_in_lottery(self) -> bool:
        """Whether the confirmed request was a lottery registration (then said); raises ``BookingRefused``."""
        turn = self.turn
        registration = turn.deps.lottery.admit(
            str(turn.data["pid"]), turn.acct, turn.channel.value, turn.inbound.user, str(turn.data["slot"])
        )
        if registration is None:
            return False
        self._say_registered(registration)
        turn.switch("menu")
        return True

    def _say_registered(self, registration: Registration) -> None:
        turn = self.turn
        results = self.moment(registration.results_at)
        if not registration.new:
            turn.say("book.lottery_already", patient=self.patient_name(), results=results)
            return
        slot = self.chosen_slot()
        turn.say(
            "book.lottery_registered",
            patient=self.patient_name(),
            visit=words.visit(registration.date, slot.start, turn.lang, slot.end) if slot else registration.date,
            doctor=self.doctor_name(slot) if slot else "",
            day=self.day(date.fromisoformat(registration.date)),
            seconds=self.policy.lottery_window_seconds,
            results=results,
        )
