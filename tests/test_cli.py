"""The command line: every SPEC §2 command is listed; mistakes are one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_every_command_of_the_spec() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "chat", "schedule", "broadcast", "checkin", "wechat-menu"):
        assert command in result.stdout


def test_config_mistake_is_one_line_and_non_zero(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[policy]\ncancel_deadline = "25:00"\n')
    result = run("check-config", "--config", str(tmp_path / "config.toml"))
    assert result.returncode == 1
    assert result.stderr == 'guahao: error: policy.cancel_deadline: expected HH:MM, got "25:00"\n'
    assert "Traceback" not in result.stdout + result.stderr


def test_check_config_accepts_the_example() -> None:
    result = run("check-config", "--config", "config.example.toml")
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout and "2 hospital(s)" in result.stdout


def test_usage_mistake_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["broadcast", "--hospital", "h"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required" in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out
