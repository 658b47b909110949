"""The services of one process in one container type; ``app.services`` builds it, the adapters are handed it."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.broadcasts import Broadcasts
from bot.calendar_links import CalendarLinks
from bot.clock import Clock
from bot.config import Config
from bot.crypto import SecretBox
from bot.lottery import Lottery
from bot.notifications.notifier import Notifier
from bot.notifications.outbox import Outbox, Sender
from bot.otp import OtpService
from bot.patients import PatientService
from bot.reminders import Reminders
from bot.reschedule import RescheduleService
from bot.schedule import Schedule
from bot.standing import StandingService
from bot.storage.runtime import RedisRuntime
from bot.waitlist import WaitlistService
from bot.waitlist_push import WaitlistPush


@dataclass
class Services:
    """The services of one process, sharing one Redis client and one clock."""

    config: Config
    redis: redis.Redis
    clock: Clock
    box: SecretBox
    schedule: Schedule
    patients: PatientService
    store: AppointmentStore
    booking: BookingService
    standing: StandingService
    outbox: Outbox
    sms_sender: Sender
    otp: OtpService
    notifier: Notifier
    reminders: Reminders
    broadcasts: Broadcasts
    lottery: Lottery
    waitlist: WaitlistService
    waitlist_push: WaitlistPush
    reschedule: RescheduleService
    runtime: RedisRuntime | None = None
    calendar: CalendarLinks | None = None

    def close(self) -> None:
        """Release Redis (and stop the embedded server if this process owns it)."""
        if self.runtime is not None:
            self.runtime.close()
