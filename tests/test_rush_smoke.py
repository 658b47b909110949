"""``bench/rush.py`` end to end with a handful of patients: gunicorn, an external redis-server, guahao's worker and
wrk replaying signed WeChat (safe mode) and Twilio requests; it must finish with every message answered, nothing
failed, nothing overbooked. The figures themselves are the bench's business (never timing asserts here). It needs
``wrk`` (``apt-get install wrk``) and is skipped, saying so, without it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "rush.py"
PATIENTS, PACED = 24, 12  # the bench adds max(2 x connections, patients // 2) patients for the 80 % run
MESSAGES = 5  # book, department, date, slot, confirm


NO_WRK = "wrk is not installed: bench/rush.py needs it (apt-get install wrk)"


@pytest.mark.skipif(shutil.which("wrk") is None, reason=NO_WRK)
def test_the_rush_bench_runs_with_a_few_patients(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    command = [sys.executable, str(BENCH), "--patients", str(PATIENTS), "--connections", "2", "--workers", "2"]
    run = subprocess.run(
        [*command, "--json", str(figures)], cwd=BENCH.parent, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(figures.read_text())
    assert result["sent"] == (PATIENTS + PACED) * MESSAGES
    assert result["replied"] + result["late"] == result["sent"], "every message answered, or pushed by the worker"
    assert result["missing"] == result["pending"] == result["deferred"] == result["lost"] == result["failed"] == 0
    assert result["overbooked"] == 0 and 0 < result["booked"] <= PATIENTS + PACED
    assert "ratio to bare Flask" in run.stdout and "p99 at 80 % of max" in run.stdout
    assert "the floor's ratio to bare Flask" in run.stdout and result["floor_rate"] > 0
