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


CONFIG = """
[redis]
data_dir = "{data}"
[security]
secret_key = "cli-test-secret-key-at-least-32-characters"
[[hospitals]]
id = "h1"
name = "第一医院"
[[hospitals.departments]]
id = "nk"
name = "内科"
"""


def test_schedule_import_checkin_and_sweep_on_the_embedded_redis(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    good = tmp_path / "good.csv"
    good.write_text(
        "hospital,department,doctor,level,date,start,end,capacity,fee\nh1,nk,dr-a,general,2030-01-02,08:00,12:00,20,5\n"
    )
    result = run("schedule", "import", str(good), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "imported 1 slots (1 new, 0 updated)" in result.stdout
    again = run("schedule", "import", str(good), "--config", str(config))
    assert "(0 new, 1 updated)" in again.stdout, "persisted in the embedded Redis between runs"

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "hospital,department,doctor,level,date,start,end,capacity,fee\nh1,xx,dr-a,general,2030-01-02,08:00,12:00,20,5\n"
    )
    result = run("schedule", "import", str(bad), "--config", str(config))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("guahao: error: schedule import refused: 1 bad row") and "line 2" in result.stderr

    missing = run("schedule", "import", str(tmp_path / "nope.csv"), "--config", str(config))
    assert missing.returncode == 1 and missing.stderr == f"guahao: error: no such file: {tmp_path / 'nope.csv'}\n"

    unknown = run("checkin", "12345678", "--config", str(config))
    assert unknown.returncode == 1 and unknown.stderr == "guahao: error: no appointment with serial '12345678'\n"

    sweep = run("sweep", "--config", str(config))
    assert sweep.returncode == 0 and "0 appointment(s) marked no_show" in sweep.stdout
    assert "Traceback" not in result.stderr + missing.stderr + unknown.stderr


def test_schedule_without_action_is_a_usage_error() -> None:
    result = run("schedule")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_chat_verifies_and_shows_the_code_inline(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    lines = "\n".join(["1", "张三", "11010519491231002X", "13812345678"]) + "\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--config", str(config), "--user", "tester"],
        input=lines, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "请输入就诊人姓名" in result.stdout
    assert "[sms → 138****5678, otp] 【挂号】您的验证码是" in result.stdout
    assert "13812345678" not in result.stdout


def test_wechat_menu_is_created_through_the_api(tmp_path: Path) -> None:
    from tests.wechat_standin import APP_ID, APP_SECRET, running_standin

    config = tmp_path / "config.toml"
    with running_standin() as standin:
        config.write_text(
            CONFIG.format(data=tmp_path / "data")
            + f'[wechat]\napp_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\napi_base_url = "{standin.base_url}"\n'
        )
        result = run("wechat-menu", "--config", str(config))
        assert result.returncode == 0, result.stderr
        [created] = standin.calls("/cgi-bin/menu/create")
        assert [b["name"] for b in created.body["button"]] == ["预约挂号", "我的预约", "更多"]  # type: ignore[index]
        standin.fail_next(40013)
    unreachable = run("wechat-menu", "--config", str(config))
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("guahao: error: cannot reach the WeChat API")
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    missing = run("wechat-menu", "--config", str(config))
    assert missing.returncode == 1 and "wechat.app_id and wechat.app_secret are needed" in missing.stderr
