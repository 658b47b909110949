"""The WSGI entry point for production servers: ``gunicorn 'app.wsgi:app'``.

Configuration comes from ``GUAHAO_CONFIG`` (a path; default ``./config.toml``) and ``GUAHAO_<SECTION>_<KEY>``
variables. Run it against an external Redis (``redis.url``) and beside ``guahao worker``; set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory so that ``/metrics`` adds up every worker process.
"""

from __future__ import annotations

import os

from app.logs import setup_logging
from app.services import open_services
from app.web import REDIS_SOCKET_TIMEOUT_S, create_app
from bot.config import load_config

setup_logging()
app = create_app(
    open_services(load_config(os.environ.get("GUAHAO_CONFIG") or None), socket_timeout=REDIS_SOCKET_TIMEOUT_S)
)
