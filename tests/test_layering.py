"""The folders are the floors, and imports only point down (or along a floor): see README, architecture."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"rules": 1, "texts": 1, "bot": 2, "dialogs": 3, "adapters": 4, "app": 5}
"""Policy and words (pure) < services + infrastructure < the conversation < the channels < the composition roots."""
NOT_SHIPPED = {"tests"}


def layer_of(module: str) -> int | None:
    """The floor of one of our modules, or None for a third-party or standard module."""
    return FLOORS.get(module.split(".")[0])


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level)[0]
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


SOURCES = sorted(p for pkg in FLOORS for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_import(path: Path) -> None:
    own = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert own is not None
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imports_of(path)
        if (target := layer_of(module)) is not None and target > own
    ]
    assert not upward, upward


def test_every_top_level_package_has_a_floor() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_SHIPPED
    assert packages == set(FLOORS), sorted(packages ^ set(FLOORS))


GROUND_ALLOWED = {"rules": {"rules"}, "texts": {"texts", "rules"}}
"""The ground floor is pure: the standard library, and the words may mask with policy's masking (never the reverse)."""


@pytest.mark.parametrize("package", sorted(GROUND_ALLOWED))
def test_the_ground_floor_uses_only_the_standard_library(package: str) -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in (ROOT / package).rglob("*.py")
        for line, module in imports_of(path)
        if module.split(".")[0] not in sys.stdlib_module_names | GROUND_ALLOWED[package]
    ]
    assert not outside, outside


def test_the_checker_knows_the_floors() -> None:
    assert layer_of("rules.window") == layer_of("texts.book") == 1
    assert layer_of("bot.storage.keys") == 2 and layer_of("dialogs.menu") == 3
    assert layer_of("adapters.console.simulator") == 4 and layer_of("app.web") == 5
    assert layer_of("redis") is None and layer_of("flask.json") is None
