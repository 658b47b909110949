"""Builds every service from the configuration: the one place (with the CLI and the web factory) that wires."""

from __future__ import annotations

import logging

import redis

from adapters.console.sender import AtomicConsoleSender, ConsoleSender
from adapters.sms.aliyun import AliyunSender
from adapters.sms.ratelimit import PhoneRateLimit
from adapters.sms.tencentcloud import TencentCloudSender
from adapters.sms.twilio import PhoneOptOuts, TwilioConfigError, TwilioSender
from adapters.wechat.push import wechat_sender
from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.broadcasts import SEND_RATES, Broadcasts
from bot.calendar_links import CalendarLinks
from bot.clock import Clock, RedisClock, SystemClock
from bot.config import Config
from bot.crypto import SecretBox, resolve_secret_key
from bot.lottery import Lottery
from bot.notifications.notifier import Notifier
from bot.notifications.outbox import Outbox, Sender, SendLedger
from bot.notifications.push_reports import PushReports
from bot.otp import OtpService
from bot.patients import PatientService
from bot.reminders import Reminders, job_queue
from bot.reschedule import RescheduleService
from bot.schedule import Schedule
from bot.services import Services
from bot.settle import Settlements
from bot.standing import StandingService
from bot.storage.runtime import open_redis
from bot.storage.scripts import Durability
from bot.waitlist import WaitlistService
from bot.waitlist_push import WaitlistPush
from dialogs.context import Deps
from dialogs.engine import Engine
from dialogs.registry import all_dialogs

log = logging.getLogger(__name__)
MAINLAND_SENDERS = {"aliyun": AliyunSender, "tencentcloud": TencentCloudSender}


def build_services(config: Config, client: redis.Redis, clock: Clock | None = None) -> Services:
    """Wire the services on an existing client; the clock follows the simulator when it is on."""
    if clock is None:
        clock = RedisClock(client) if config.server.simulator else SystemClock()
    box = SecretBox(resolve_secret_key(config.security.secret_key, config.redis.data_dir))
    store = AppointmentStore(client, config, clock)
    outbox = Outbox(client, box, clock, config.policy.tz)
    ledger = SendLedger(client, box)
    patients = PatientService(client, box, clock, config.policy)
    sms_sender: Sender = ConsoleSender(outbox, ledger)
    if config.sms.provider == "twilio":
        try:
            sms_sender = TwilioSender(
                config.sms, ledger=ledger, opt_outs=PhoneOptOuts(patients, box), public_url=config.server.public_url
            )
        except TwilioConfigError as missing:  # the channel stays off; messages land in the outbox only
            log.warning("SMS sending off (%s): messages go to the console outbox", missing)
    elif config.sms.provider in MAINLAND_SENDERS:  # SPEC §9; check-config made sure its required templates are there
        sms_sender = MAINLAND_SENDERS[config.sms.provider](
            config.sms,
            ledger=ledger,
            opt_outs=PhoneOptOuts(patients, box),
            limiter=PhoneRateLimit(client, box, clock, config.sms),
        )
    schedule = Schedule(client, config, clock)
    settlements = Settlements(client, box, clock, Durability.of(config.redis))
    booking = BookingService(store, patients, settlements)
    calendar = CalendarLinks(client, box, config)
    senders = notify_senders(config, client, box, clock, outbox, sms_sender)
    reports = PushReports(client, box, clock)
    notifier = Notifier(client, box, config, patients, senders, links=calendar, reports=reports, clock=clock)
    reminders = Reminders(client, store, notifier, clock)
    broadcasts = Broadcasts(
        client, store, booking, schedule, notifier, reminders, clock, rates=send_rates(notifier.senders)
    )
    lottery = Lottery(client, store, schedule, booking, patients, notifier, reminders, clock, box)
    waitlist = WaitlistService(booking, patients, box, job_queue(client))
    schedule.on_imported = waitlist.capacity_changed  # staff raising a capacity: the waiters are offered first
    return Services(
        config=config,
        redis=client,
        clock=clock,
        box=box,
        schedule=schedule,
        patients=patients,
        store=store,
        booking=booking,
        standing=StandingService(store),
        outbox=outbox,
        sms_sender=sms_sender,
        otp=OtpService(client, box, clock, config.policy, sms_sender),
        notifier=notifier,
        reminders=reminders,
        broadcasts=broadcasts,
        lottery=lottery,
        waitlist=waitlist,
        waitlist_push=WaitlistPush(waitlist, notifier),
        reschedule=RescheduleService(booking, notifier, job_queue(client)),
        calendar=calendar,
    )


def notify_senders(
    config: Config, client: redis.Redis, box: SecretBox, clock: Clock, outbox: Outbox, sms_sender: Sender
) -> dict[str, Sender]:
    """The senders of notifications (reminders, broadcasts) per channel: the real providers when configured, else
    the console outbox through the crash-safe :class:`AtomicConsoleSender`."""
    console = AtomicConsoleSender(outbox, clock, config.policy.tz)
    wechat: Sender = console
    if config.wechat.push == "api" and config.wechat.enabled and config.wechat.app_id:
        wechat = wechat_sender(config.wechat, client, box, outbox)
    sms = console if isinstance(sms_sender, ConsoleSender) else sms_sender
    return {"wechat": wechat, "sms": sms, "console": console}


def send_rates(senders: dict[str, Sender]) -> dict[str, float]:
    """Broadcast send rates for the channels served by a real provider (the console outbox is not limited)."""
    return {
        channel: rate
        for channel, rate in SEND_RATES.items()
        if not isinstance(senders.get(channel), AtomicConsoleSender | ConsoleSender)
    }


def dialog_deps(services: Services) -> Deps:
    """What the dialogs may use of the services."""
    return Deps(
        config=services.config,
        redis=services.redis,
        clock=services.clock,
        box=services.box,
        patients=services.patients,
        otp=services.otp,
        schedule=services.schedule,
        store=services.store,
        booking=services.booking,
        standing=services.standing,
        reminders=services.reminders,
        lottery=services.lottery,
        waitlist=services.waitlist,
        reschedule=services.reschedule,
        calendar=services.calendar,
    )


def build_engine(services: Services) -> Engine:
    """The message pipeline over these services, with every dialog."""
    return Engine(dialog_deps(services), all_dialogs())


def open_services(
    config: Config, clock: Clock | None = None, *, wait: bool = False, socket_timeout: float | None = None
) -> Services:
    """Open Redis as configured (or the embedded server) and wire the services on it; ``wait``: for an external
    Redis not reachable yet (a long-running process started before its Redis); ``socket_timeout``: the web
    process's bound on one Redis command."""
    runtime = open_redis(config.redis, wait=wait, socket_timeout=socket_timeout)
    services = build_services(config, runtime.redis, clock)
    services.runtime = runtime
    return services
