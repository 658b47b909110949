"""The web simulator (SPEC §4): a page to talk to the bot as a WeChat or SMS user, the outbox, a movable clock.

Every route answers 404 while ``server.simulator`` is off. Messages go through the same normalisation and dialog as
the real webhooks; moving the clock moves it for every process of the deployment (the offset lives in Redis) and
runs whatever falls due (reminders, the no-show sweep, day releases) before answering.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory

from adapters.sms import SmsInbox, sender_phone
from bot.app.services import Services
from bot.app.worker import run_worker
from bot.clock import RedisClock
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound

STATIC = Path(__file__).resolve().parent / "static"
MAX_TEXT = 2000
MAX_ADVANCE_MINUTES = 366 * 24 * 60


def simulator_blueprint(services: Services, engine: Engine) -> Blueprint:
    """The page at ``/`` and the ``/simulator/...`` API over these services."""
    blueprint = Blueprint("simulator", __name__)
    inbox = SmsInbox(engine, services.patients, services.box, services.redis)

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
        tokens = config.security.staff_tokens
        return {
            "now": _local_now(services),
            "staff_token": tokens[0].token if tokens else "",
            "hospitals": [
                {"id": h.id, "name": h.name, "departments": [{"id": d.id, "name": d.name} for d in h.departments]}
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

    @blueprint.post("/simulator/clock")
    def clock() -> Any:
        body = _json_object()
        if not isinstance(services.clock, RedisClock):
            return _error("the clock of this deployment cannot be moved", 409)
        if "advance_minutes" in body:
            minutes = body["advance_minutes"]
            if (
                not isinstance(minutes, int | float)
                or isinstance(minutes, bool)
                or not 0 < minutes <= MAX_ADVANCE_MINUTES
            ):
                return _error(f"advance_minutes: expected a number of minutes from 1 to {MAX_ADVANCE_MINUTES}")
            services.clock.advance(timedelta(minutes=minutes))
        elif "set" in body:
            try:
                moment = datetime.fromisoformat(str(body["set"]))
            except ValueError:
                return _error(f"set: expected an ISO-8601 time with offset, got {body['set']!r}")
            if moment.tzinfo is None:
                return _error("set: the time needs an offset, e.g. 2026-11-24T19:00:00+08:00")
            services.clock.set(moment)
        else:
            return _error('expected {"advance_minutes": N} or {"set": "<ISO-8601 with offset>"}')
        run_worker(services, burst=True)  # what fell due in between runs before the answer
        return {"now": _local_now(services)}

    return blueprint


def _local_now(services: Services) -> str:
    return services.clock.now().astimezone(services.config.policy.tz).isoformat(timespec="seconds")


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_error("expected a JSON object"))
    return body


def _error(message: str, status: int = 400) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response
