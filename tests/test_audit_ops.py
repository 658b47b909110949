"""Defects found operating guahao as hospital IT would (the audit of December 2026), one test each.

Each test is the smallest reproduction of what an operator ran: a config file saved in the wrong encoding, the
README's `guahao serve --demo --config mine.toml` with the operator's own hospitals, an out-of-range policy number
that check-config let through, a command piped into `head`, an export asked for "everything".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd, env=clean, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


# --- a config file that is not UTF-8 -----------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes('[[hospitals]]\nid = "h1"\nname = "北京第一医院"\n'.encode("gbk"))  # saved by a GBK editor
    result = run("check-config", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "not UTF-8" in result.stderr, result.stderr
