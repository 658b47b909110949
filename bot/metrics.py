"""Prometheus metrics of every process (web workers, RQ workers), created on first use.

With ``PROMETHEUS_MULTIPROC_DIR`` set (as ``guahao serve`` does, and as a gunicorn deployment should), every process
writes its values there and ``/metrics`` adds them up, so the figures are right with several gunicorn workers.
The metrics are created lazily so that the directory can be chosen at start-up, before any value exists.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text format ``generate_latest`` writes for guahao's (legacy-named) metrics, named once and exactly: newer
prometheus_client versions announce ``version=1.0.0``, which older scrapers do not know."""

_lock = threading.Lock()
_metrics: Metrics | None = None


@dataclass(frozen=True)
class Metrics:
    """The figures an operator watches."""

    messages_in: Counter
    messages_out: Counter
    dialog_errors: Counter
    bookings: Counter
    cancellations: Counter
    no_shows: Counter
    webhook_latency: Histogram


def metrics() -> Metrics:
    """The process's metrics (created on the first call)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # now, not at import
                _metrics = Metrics(
                    messages_in=Counter("guahao_messages_in", "Messages received from users", ["channel"]),
                    messages_out=Counter("guahao_messages_out", "Messages sent to users", ["channel", "kind"]),
                    dialog_errors=Counter("guahao_dialog_errors", "Dialog steps that failed unexpectedly"),
                    bookings=Counter("guahao_bookings", "Appointments booked", ["hospital"]),
                    cancellations=Counter("guahao_cancellations", "Appointments cancelled", ["by"]),
                    no_shows=Counter("guahao_no_shows", "Appointments marked as no-shows"),
                    webhook_latency=Histogram(
                        "guahao_webhook_latency_seconds",
                        "Time to answer a webhook or simulator request",
                        ["endpoint"],
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.0, 5.0, 10.0),
                    ),
                )
    return _metrics


def registry() -> CollectorRegistry:
    """The registry ``/metrics`` exposes: every process's values in multiprocess mode, else this process's."""
    metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY
