"""The WSGI entry point for production servers: ``gunicorn 'app.wsgi:app'``.

Configuration comes from ``GUAHAO_CONFIG`` (a path; default ``./config.toml``) and ``GUAHAO_<SECTION>_<KEY>``
variables. Run it against an external Redis (``redis.url``) and beside ``guahao worker``; set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory so that ``/metrics`` adds up every worker process.
"""

from __future__ import annotations

import logging
import os

from app.logs import setup_logging
from app.services import open_services
from app.web import REDIS_SOCKET_TIMEOUT_S, create_app
from bot.config import load_config

setup_logging()
config = load_config(os.environ.get("GUAHAO_CONFIG") or None)
if config.server.simulator:  # SPEC §7: the app cannot tell where the WSGI server listens, so it always says so
    logging.getLogger(__name__).warning(
        "the web simulator is on under a WSGI server: anyone who reaches it can act as any user, read the SMS codes "
        "in its outbox and move the deployment's clock; turn server.simulator off in production"
    )
app = create_app(open_services(config, socket_timeout=REDIS_SOCKET_TIMEOUT_S))
