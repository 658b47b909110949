"""The Flask app factory: one blueprint per concern, each handed the few services it uses."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from prometheus_client import generate_latest
from werkzeug.exceptions import HTTPException

from adapters.calendar.web import CalendarServices, calendar_blueprint
from adapters.console.simulator import STATIC, SimulatorServices, simulator_blueprint
from adapters.fhir.api import FhirServices, fhir_blueprint
from adapters.fhir.api import http_error as fhir_http_error
from adapters.sms.mainland_inbound import mainland_blueprint
from adapters.sms.twilio import DeliveryLog
from adapters.sms.webhook import SmsInbox, sms_blueprint
from adapters.staff.api import StaffDesk, staff_blueprint
from adapters.staff.docs import staff_docs_blueprint
from adapters.wechat.events import WeChatEvents, fallback_queue
from adapters.wechat.push import Followers
from adapters.wechat.webhook import WeChatServices, wechat_blueprint
from app import health
from app.late_replies import LateReplies
from app.services import build_engine
from app.worker import run_worker
from bot.config import MAINLAND_PROVIDERS
from bot.metrics import CONTENT_TYPE, metrics, registry
from bot.notifications.push_reports import PushReports
from bot.services import Services
from bot.storage.runtime import refusing
from dialogs.engine import Engine

MAX_BODY_BYTES = 16 * 1024 * 1024
TIMED_PREFIXES = ("/wechat", "/sms/", "/simulator/")
REDIS_SOCKET_TIMEOUT_S = 1.0
"""The web process's bound on one Redis command (``app.wsgi``, ``guahao serve``): a Redis that hangs costs a webhook
at most this per round trip (then the busy text), so WeChat is still answered within its 5 s."""
log = logging.getLogger(__name__)


class _JsonProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser refused as malformed (400), not a 500."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:  # json's C decoder gives up past the interpreter's recursion limit
            raise ValueError("JSON nested too deeply") from None


def create_app(
    services: Services,
    engine: Engine | None = None,
    *,
    expect_worker: bool = True,
    worker_watch: health.WorkerWatch | None = None,
) -> Flask:
    """The web app over already-wired services (the CLI and tests build those); channels whose credentials are
    missing are left out (their endpoints answer 404), and say so once.

    ``/healthz`` expects a worker (``guahao serve``'s child, or ``guahao worker`` beside gunicorn) unless
    ``expect_worker`` is False (tests of the web side alone); ``worker_watch`` is ``serve``'s supervisor.
    """
    engine = engine or build_engine(services)
    app = Flask("guahao", static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = _JsonProvider(app)
    app.register_blueprint(
        staff_blueprint(
            StaffDesk(
                services.config,
                services.store,
                services.standing,
                services.schedule,
                services.broadcasts,
                services.lottery,
                services.waitlist,
            )
        )
    )
    app.register_blueprint(staff_docs_blueprint())
    app.register_blueprint(
        fhir_blueprint(FhirServices(services.config, services.schedule, services.store, services.clock))
    )
    if services.calendar is not None:
        calendar = CalendarServices(services.config, services.calendar, services.store, services.patients)
        app.register_blueprint(calendar_blueprint(calendar))
    sms_inbox = SmsInbox(engine, services.patients, services.box, services.redis)
    simulator = SimulatorServices(services.config, services.clock, engine, sms_inbox, services.outbox)
    app.register_blueprint(simulator_blueprint(simulator, lambda: run_worker(services, burst=True)))
    _register_channels(app, services, engine)
    _register_mainland_sms(app, services, sms_inbox)

    @app.get("/healthz")
    def healthz() -> Any:
        state = health.check(services.redis, expect_worker=expect_worker, watch=worker_watch)
        return jsonify(state.body()), 200 if state.ok else 503

    @app.get("/metrics")
    def prometheus() -> Response:
        # content_type, not mimetype: Flask would add a second "; charset=utf-8", which Prometheus 3 refuses
        return Response(generate_latest(registry()), content_type=CONTENT_TYPE)

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
        if request.path.startswith("/fhir/"):
            return fhir_http_error(exc.code or 500, exc.description or exc.name)
        if request.path.startswith(("/api/", "/simulator/")):
            return jsonify({"error": exc.description}), exc.code
        return exc

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(OSError)
    def redis_down(exc: Exception) -> Any:
        # the webhooks answer their users with the busy text themselves; anything else is a 503 in JSON
        log.warning("request failed: Redis unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return jsonify({"error": "temporarily unavailable, try again shortly"}), 503

    @app.errorhandler(redis.ResponseError)
    def redis_refusing(exc: redis.ResponseError) -> Any:
        # Redis answers but will not write (maxmemory, a full disk, too few replicas): down, for the caller
        if not refusing(exc):
            raise exc  # a real error: Flask's 500 (JSON under /api/), logged with its traceback
        return redis_down(exc)

    return app


def _register_channels(app: Flask, services: Services, engine: Engine) -> None:
    config = services.config
    late = LateReplies(services.redis, services.box)
    if config.sms.auth_token:  # SPEC §7: the webhook follows the auth token; sms.provider is for outbound only
        app.register_blueprint(
            sms_blueprint(
                engine,
                patients=services.patients,
                box=services.box,
                redis_client=services.redis,
                clock=services.clock,
                config=config,
                hand_off=late,
            )
        )
    else:
        log.info("SMS webhook off: sms.auth_token is empty")
    if config.wechat.enabled:
        events = WeChatEvents(
            config,
            services.notifier.reports or PushReports(services.redis, services.box, services.clock),
            fallback_queue(services.redis),
        )
        wechat = WeChatServices(engine, services.box, services.patients, Followers(services.redis), events)
        app.register_blueprint(wechat_blueprint(wechat, config.wechat, late))
    else:
        log.info("WeChat webhook off: wechat.token is empty")


def _register_mainland_sms(app: Flask, services: Services, inbox: SmsInbox) -> None:
    """SPEC §9: the configured mainland provider's callbacks, on whenever ``sms.inbound_token`` is set."""
    sms = services.config.sms
    if sms.provider not in MAINLAND_PROVIDERS:
        return
    if not sms.inbound_token:
        log.info("SMS callbacks of %s off: sms.inbound_token is empty", sms.provider)
        return
    app.register_blueprint(
        mainland_blueprint(
            sms.provider,
            inbox=inbox,
            sender=services.sms_sender,
            deliveries=DeliveryLog(services.redis, services.clock),
            patients=services.patients,
            box=services.box,
            inbound_token=sms.inbound_token,
        )
    )
