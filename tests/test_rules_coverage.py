"""The policy layer is held to 100 % branch coverage by its own tests (DESIGN.md): ``tests/policy_rules`` runs again
here under coverage, in a process of its own, and this test fails on any statement or branch of ``rules/`` they
leave unrun. The rest of the suite runs without coverage's tracer, which made it about a third slower for
measuring one package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_rules_own_tests_cover_every_statement_and_branch_of_rules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov", "--cov-report=term-missing",
         str(ROOT / "tests" / "policy_rules")],  # source, branch and fail_under: pyproject.toml's [tool.coverage]
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    report = result.stdout[result.stdout.find("coverage:") :]
    sys.stdout.write(report)  # the table, shown with -s
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Total coverage: 100.00%" in report, report
