"""The bot services a dialog may use, handed in by the composition root (dialogs never build clients)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.calendar_links import CalendarLinks
from bot.clock import Clock
from bot.config import Config
from bot.crypto import SecretBox
from bot.lottery import Lottery
from bot.otp import OtpService
from bot.patients import PatientService
from bot.reminders import Reminders
from bot.reschedule import RescheduleService
from bot.schedule import Schedule
from bot.standing import StandingService
from bot.waitlist import WaitlistService


@dataclass(frozen=True)
class Deps:
    """Everything below the dialogs, wired once per process."""

    config: Config
    redis: redis.Redis
    clock: Clock
    box: SecretBox
    patients: PatientService
    otp: OtpService
    schedule: Schedule
    store: AppointmentStore
    booking: BookingService
    standing: StandingService
    reminders: Reminders
    lottery: Lottery
    waitlist: WaitlistService
    reschedule: RescheduleService
    calendar: CalendarLinks | None = None
