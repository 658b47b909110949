"""The Flask app factory: one blueprint per concern, the services attached to the app."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.app.services import Services
from bot.app.staff_api import staff_api

MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(services: Services) -> Flask:
    """The web app over already-wired services (the CLI and tests build those)."""
    app = Flask("guahao")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["guahao"] = services
    app.register_blueprint(staff_api)

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
