"""The Flask app factory: one blueprint per concern, the services attached to the app."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from adapters.sms import sms_blueprint
from adapters.wechat import wechat_blueprint
from adapters.wechat_push import reply_pusher, wechat_sender
from bot.app.services import Services, build_engine
from bot.app.simulator import STATIC, simulator_blueprint
from bot.app.staff_api import staff_api
from bot.metrics import metrics, registry
from dialogs.engine import Engine

MAX_BODY_BYTES = 16 * 1024 * 1024
TIMED_PREFIXES = ("/wechat", "/sms/", "/simulator/")
log = logging.getLogger(__name__)


def create_app(services: Services, engine: Engine | None = None) -> Flask:
    """The web app over already-wired services (the CLI and tests build those); channels whose credentials are
    missing are left out (their endpoints answer 404), and say so once."""
    engine = engine or build_engine(services)
    app = Flask("guahao", static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["guahao"] = services
    app.register_blueprint(staff_api)
    app.register_blueprint(simulator_blueprint(services, engine))
    _register_channels(app, services, engine)

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            services.redis.ping()
        except (redis.RedisError, OSError):
            return jsonify({"status": "unavailable", "redis": "down"}), 503
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record_latency(response: Response) -> Response:
        if request.path.startswith(TIMED_PREFIXES) and "started" in g:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            metrics().webhook_latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.response is not None:  # already a full answer (abort with a response)
            return exc.response
        if request.path.startswith(("/api/", "/simulator/")):
            return jsonify({"error": exc.description}), exc.code
        return exc

    return app


def _register_channels(app: Flask, services: Services, engine: Engine) -> None:
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
