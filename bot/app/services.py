"""Builds every service from the configuration: the one place (with the CLI and the web factory) that wires."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.appointments import AppointmentStore
from bot.booking import BookingService
from bot.clock import Clock, RedisClock, SystemClock
from bot.config import Config
from bot.crypto import SecretBox, resolve_secret_key
from bot.notify import ConsoleSender, Outbox, Sender, SendLedger
from bot.otp import OtpService
from bot.patients import PatientService
from bot.redis_runtime import RedisRuntime, open_redis
from bot.schedule import Schedule
from bot.standing import StandingService
from dialogs.context import Deps
from dialogs.engine import Engine
from dialogs.registry import all_dialogs


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
    runtime: RedisRuntime | None = None

    def close(self) -> None:
        """Release Redis (and stop the embedded server if this process owns it)."""
        if self.runtime is not None:
            self.runtime.close()


def build_services(config: Config, client: redis.Redis, clock: Clock | None = None) -> Services:
    """Wire the services on an existing client; the clock follows the simulator when it is on."""
    if clock is None:
        clock = RedisClock(client) if config.server.simulator else SystemClock()
    box = SecretBox(resolve_secret_key(config.security.secret_key, config.redis.data_dir))
    store = AppointmentStore(client, config, clock)
    outbox = Outbox(client, box, clock, config.policy.tz)
    sms_sender: Sender = ConsoleSender(outbox, SendLedger(client, box))
    return Services(
        config=config,
        redis=client,
        clock=clock,
        box=box,
        schedule=Schedule(client, config),
        patients=PatientService(client, box, clock, config.policy),
        store=store,
        booking=BookingService(store),
        standing=StandingService(store),
        outbox=outbox,
        sms_sender=sms_sender,
        otp=OtpService(client, box, clock, config.policy, sms_sender),
    )


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
    )


def build_engine(services: Services) -> Engine:
    """The message pipeline over these services, with every dialog."""
    return Engine(dialog_deps(services), all_dialogs())


def open_services(config: Config, clock: Clock | None = None) -> Services:
    """Open Redis as configured (or the embedded server) and wire the services on it."""
    runtime = open_redis(config.redis)
    services = build_services(config, runtime.redis, clock)
    services.runtime = runtime
    return services
