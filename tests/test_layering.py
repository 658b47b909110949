"""Layers only point down: rules < bot services < dialogs < adapters < app (DESIGN.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rules", "bot", "dialogs", "adapters")


def layer_of(module: str) -> int | None:
    """The layer of one of our modules (0 = lowest), or None for a third-party or standard module."""
    top = module.split(".")[0]
    if top == "bot":
        return 4 if module == "app" or module.startswith("app.") or module == "app.__main__" else 1
    return {"rules": 0, "dialogs": 2, "adapters": 3}.get(top)


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


SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


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


def test_rules_use_only_the_standard_library() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in (ROOT / "rules").rglob("*.py")
        for line, module in imports_of(path)
        if module.split(".")[0] not in sys.stdlib_module_names and layer_of(module) != 0
    ]
    assert not outside, outside


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    assert layer_of("dialogs.menu") == 2 and layer_of("app.web") == 4 and layer_of("bot.booking") == 1
    assert layer_of("redis") is None
