"""The web simulator (SPEC §4): a page to talk to the bot as a WeChat or SMS user, the outbox, a movable clock.

Every route answers 404 while ``server.simulator`` is off. Messages go through the same normalisation and dialog as
the real webhooks; moving the clock moves it for every process of the deployment (the offset lives in Redis) and
runs whatever falls due (reminders, the no-show sweep, day releases) before answering. The page never learns a
configured staff token (only one that ``--demo`` made), and the clock stays within ten years of the real date.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory

from adapters.sms.webhook import SmsInbox, sender_phone
from bot.clock import Clock, RedisClock
from bot.config import Config
from bot.notifications.outbox import Outbox
from dialogs.engine import Conversation
from dialogs.message import Channel, Inbound

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_TEXT = 2000
MAX_ADVANCE_MINUTES = 366 * 24 * 60
CLOCK_RANGE = timedelta(days=3652)
"""How far from the real date the simulated clock may go (ten years): dates stay printable and jobs sane."""


def warn_if_exposed(config: Config, host: str) -> bool:
    """Log a warning when the simulator (anyone may talk as any user, move the clock) listens beyond loopback."""
    if not config.server.simulator or _loopback(host):
        return False
    log.warning(
        "the web simulator is on and listening on a non-loopback address: anyone who reaches it can act as any "
        "user and move the clock; turn server.simulator off outside a demo",
        extra={"host": host},
    )
    return True


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class SimulatorServices:
    """What the simulator uses: the configuration, the (movable) clock, the two channels' inboxes, the outbox."""

    config: Config
    clock: Clock
    engine: Conversation
    sms: SmsInbox
    outbox: Outbox


def simulator_blueprint(services: SimulatorServices, run_due: Callable[[], None]) -> Blueprint:
    """The page at ``/`` and the ``/simulator/...`` API over these services; ``run_due`` runs the jobs that fell
    due (the composition root passes the worker in burst mode)."""
    blueprint = Blueprint("simulator", __name__)
    inbox, engine = services.sms, services.engine

    @blueprint.before_request
    def only_when_on() -> None:
        if not services.config.server.simulator:
            abort(404)

    @blueprint.get("/")
    def page() -> Response:
        return send_from_directory(STATIC, "simulator.html")

    @blueprint.get("/simulator/info")
    def info() -> Any:
        config = services.config
        return {
            "now": _local_now(services),
            # only the token --demo made for this process; a configured one is the operator's secret
            "staff_token": config.demo_staff_token or "",
            # whether every outbound message only lands in the outbox (the page says so only then)
            "outbox_only": config.sms.provider == "console" and config.wechat.push == "console",
            "hospitals": [  # with the English names: the page shows them in English
                {
                    "id": h.id,
                    "name": h.name,
                    "name_en": h.name_en,
                    "departments": [{"id": d.id, "name": d.name, "name_en": d.name_en} for d in h.departments],
                }
                for h in config.hospitals
            ],
        }

    @blueprint.post("/simulator/send")
    def send() -> Any:
        body = _json_object()
        channel, user, text = body.get("channel"), body.get("user"), body.get("text")
        if channel not in ("wechat", "sms"):
            return _error('channel: expected "wechat" or "sms"')
        if not isinstance(user, str) or not user.strip():
            return _error("user: expected an openid or a phone number")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return _error(f"text: expected 1 to {MAX_TEXT} characters")
        if channel == "sms":
            phone = sender_phone(user)
            if phone is None:
                return _error(f"user: expected a phone number, got {user!r}")
            return {"replies": inbox.handle(phone, text, f"sim-{uuid.uuid4().hex}")}
        replies = engine.handle(Inbound(Channel.wechat, user.strip(), text, f"sim-{uuid.uuid4().hex}"))
        return {"replies": [r.text for r in replies]}

    @blueprint.get("/simulator/outbox")
    def outbox() -> Any:
        to = request.args.get("to", "").strip()
        if not to:
            return _error("to: expected an openid or a phone number")
        return {"messages": services.outbox.messages_for(sender_phone(to) or to)}

    @blueprint.get("/simulator/clock")
    def read_clock() -> Any:
        return {"now": _local_now(services)}

    @blueprint.post("/simulator/clock")
    def clock() -> Any:
        body = _json_object()
        if not isinstance(services.clock, RedisClock):
            return _error("the clock of this deployment cannot be moved", 409)
        move, problem = _clock_move(body, services.clock.now())
        if problem is not None:
            return _error(problem)
        if isinstance(move, timedelta):
            services.clock.advance(move)  # an increment: two pages moving the clock at once both count
        elif move is not None:
            services.clock.set(move)
        if move is not None:
            run_due()  # what fell due in between runs before the answer
        return {"now": _local_now(services)}

    return blueprint


def _clock_move(body: dict[str, Any], now: datetime) -> tuple[timedelta | datetime | None, str | None]:
    """How a ``POST /simulator/clock`` body moves the clock (a step, a moment, or ``None``: it only reads), or why
    it is refused."""
    if "advance_minutes" in body:
        minutes = body["advance_minutes"]
        if type(minutes) is not int or not 0 <= minutes <= MAX_ADVANCE_MINUTES:  # not bool, not float
            return None, f"advance_minutes: expected a whole number of minutes from 0 to {MAX_ADVANCE_MINUTES}"
        step = timedelta(minutes=minutes)
        return (step or None), _out_of_range(now + step)
    if "set" in body:
        text = body["set"]
        try:
            moment = datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return None, f"set: expected an ISO-8601 time with offset, e.g. 2026-11-24T19:00:00+08:00, got {text!r}"
        return moment, _out_of_range(moment)
    return None, 'expected {"advance_minutes": N} or {"set": "<ISO-8601 with offset>"}'


def _out_of_range(moment: datetime) -> str | None:
    real = datetime.now(UTC)
    if real - CLOCK_RANGE <= moment <= real + CLOCK_RANGE:
        return None
    return (
        f"the clock stays within ten years of the real date ({(real - CLOCK_RANGE).date()} to "
        f"{(real + CLOCK_RANGE).date()}), got {moment.isoformat(timespec='seconds')}"
    )


def _local_now(services: SimulatorServices) -> str:
    return services.clock.now().astimezone(services.config.policy.tz).isoformat(timespec="seconds")


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_error("expected a JSON object"))
    try:
        # json.loads accepts "\ud800", which no UTF-8 store or channel can take: refuse it here, not with a 500
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        abort(_error("expected Unicode text: the body holds a lone surrogate (\\ud800-\\udfff)"))
    return body


def _error(message: str, status: int = 400) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response
