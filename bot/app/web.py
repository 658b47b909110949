"""The Flask app factory: one blueprint per concern, the services attached to the app."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from adapters.sms import sms_blueprint
from adapters.wechat import wechat_blueprint
from adapters.wechat_push import reply_pusher, wechat_sender
from bot.app.services import Services, build_engine
from bot.app.staff_api import staff_api
from dialogs.engine import Engine

MAX_BODY_BYTES = 16 * 1024 * 1024
log = logging.getLogger(__name__)


def create_app(services: Services, engine: Engine | None = None) -> Flask:
    """The web app over already-wired services (the CLI and tests build those); channels whose credentials are
    missing are left out (their endpoints answer 404), and say so once."""
    engine = engine or build_engine(services)
    app = Flask("guahao")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["guahao"] = services
    app.register_blueprint(staff_api)
    config = services.config
    if config.sms.provider == "twilio" and config.sms.auth_token:
        app.register_blueprint(
            sms_blueprint(
                engine,
                patients=services.patients,
                box=services.box,
                redis_client=services.redis,
                clock=services.clock,
                config=config,
            )
        )
    else:
        log.info("SMS webhook off: sms.provider is not twilio or sms.auth_token is empty")
    if config.wechat.enabled:
        pusher = wechat_sender(config.wechat, services.redis, services.box, services.outbox)
        app.register_blueprint(wechat_blueprint(engine, config.wechat, reply_pusher(pusher)))
    else:
        log.info("WeChat webhook off: wechat.token is empty")

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            services.redis.ping()
        except (redis.RedisError, OSError):
            return jsonify({"status": "unavailable", "redis": "down"}), 503
        return {"status": "ok"}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.description}), exc.code
        return exc

    return app
