"""What the benchmarks share: threads started together, and rounds that alternate baseline and measured work."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Work = Callable[[int, int], None]
"""work(thread_index, round_index): one thread's share of one round."""


def run_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(thread_index)`` on ``threads`` threads started together; the wall time in seconds."""
    barrier = threading.Barrier(threads + 1)

    def body(index: int) -> None:
        barrier.wait()
        work(index)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def compare(
    name: str,
    baseline_name: str,
    baseline: Work,
    measured: Work,
    *,
    threads: int,
    per_thread: int,
    rounds: int,
    target: float,
) -> float:
    """Alternate baseline and measured rounds (a change in the machine's load hits both); print and return the
    median per-round ratio of measured to baseline operations per second."""
    rows = []
    for round_no in range(rounds):
        base_rate = per_thread * threads / run_threads(threads, lambda i, r=round_no: baseline(i, r))
        rate = per_thread * threads / run_threads(threads, lambda i, r=round_no: measured(i, r))
        ratio = rate / base_rate
        rows.append((base_rate, rate, ratio))
        print(f"round {round_no + 1}: {baseline_name} {base_rate:8.0f}/s   {name} {rate:7.0f}/s   ratio {ratio:.3f}")
    base_rate, rate, ratio = sorted(rows, key=lambda r: r[2])[len(rows) // 2]
    print(f"{baseline_name}: {base_rate:9.0f}/s  ({threads} threads; the median round)")
    print(f"{name}: {rate:9.0f}/s  ({threads} threads; the median round)")
    print(f"ratio: {ratio:.3f}  (median of {rounds} rounds; target >= {target})")
    return ratio
