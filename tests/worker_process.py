"""A worker process for the worker tests: ``guahao worker``'s own :func:`run_worker` on the services of a config
file, with the test's knobs (tick interval, staleness of a broadcast, send rates, a pause before each confirmation)
given as JSON.

    python -m tests.worker_process CONFIG '{"periodic": 0.5, "stale_after": 2, "rates": {"wechat": 200}}'
    python -m tests.worker_process CONFIG '{"confirmation_delay_s": 0.002}'
"""

from __future__ import annotations

import json
import logging
import sys
import time

from app.services import open_services
from app.worker import run_worker
from bot.config import load_config


def main() -> None:
    config_path, knobs = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    services = open_services(load_config(config_path))
    services.broadcasts.stale_after = float(knobs.get("stale_after", services.broadcasts.stale_after))
    services.broadcasts.rates = dict(knobs.get("rates", services.broadcasts.rates))
    if delay := float(knobs.get("confirmation_delay_s", 0)):  # a slower send: a wide window to stop the worker in
        confirmations = services.reminders.confirmations
        send = confirmations._send

        def slow(claim: bytes | str) -> str:
            time.sleep(delay)
            return send(claim)

        confirmations._send = slow
    try:
        run_worker(services, periodic_seconds=float(knobs.get("periodic", 15.0)))
    finally:
        services.close()


if __name__ == "__main__":
    main()
