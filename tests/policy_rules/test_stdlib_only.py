"""rules/ must import nothing but the standard library (and itself)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
SOURCES = sorted(RULES_DIR.glob("*.py"))


def imported_roots(path: Path) -> list[str]:
    """Top-level module names of every absolute import in the file."""
    roots = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.append((node.module or "").split(".")[0])
    return roots


def test_there_are_sources() -> None:
    assert len(SOURCES) >= 8


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_only_stdlib_imports(path: Path) -> None:
    foreign = [
        root
        for root in imported_roots(path)
        if root not in sys.stdlib_module_names and root not in ("__future__", "rules")
    ]
    assert foreign == [], f"{path.name} imports non-stdlib modules {foreign}"


def test_detector_catches_third_party(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom . import policy\nfrom redis import Redis\nimport flask.json\n")
    roots = imported_roots(sample)
    assert [r for r in roots if r not in sys.stdlib_module_names] == ["redis", "flask"]
