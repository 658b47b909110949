"""The command line: every SPEC §2 command is listed; mistakes are one line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


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
        [sys.executable, "-m", "app", "chat", "--config", str(config), "--user", "tester"],
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


# --- SPEC §7: one configuration for every command ---------------------------------------------------------
FILE_TOKEN = "file-staff-token-0123456789"


def test_guahao_config_is_read_by_every_command(tmp_path: Path) -> None:
    config = tmp_path / "prod.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    checked = run("check-config", cwd=tmp_path, env={"GUAHAO_CONFIG": str(config)})
    assert checked.returncode == 0, checked.stderr
    assert f"config OK ({config} (from GUAHAO_CONFIG))" in checked.stdout and "1 hospital(s)" in checked.stdout
    csv = tmp_path / "s.csv"
    csv.write_text(
        "hospital,department,doctor,level,date,start,end,capacity,fee\nh1,nk,李娜,expert,2030-01-02,08:00,12:00,20,50\n"
    )
    imported = run("schedule", "import", str(csv), cwd=tmp_path, env={"GUAHAO_CONFIG": str(config)})
    assert imported.returncode == 0 and "imported 1 slots" in imported.stdout, imported.stderr
    missing = run("check-config", cwd=tmp_path, env={"GUAHAO_CONFIG": str(tmp_path / "nope.toml")})
    assert missing.returncode == 1 and missing.stderr.startswith("guahao: error: config file not found")


def test_check_config_names_where_every_part_came_from(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    tokens = f'[security]\nstaff_tokens = [{{ name = "desk", token = "{FILE_TOKEN}" }}]\n'
    config.write_text(
        '[sms]\nprovider = "twilio"\n' + CONFIG.format(data=tmp_path / "data").replace("[security]\n", tokens)
    )
    result = run("check-config", "--demo", "--config", str(config), env={"GUAHAO_SERVER_PORT": "8123"})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert lines["server.port"] == ["env", "8123"]
    assert lines["server.host"] == ["default", '"127.0.0.1"']
    assert lines["server.simulator"] == ["demo", "true"]
    assert lines["sms.provider"] == ["file", '"twilio"']
    assert lines["wechat.push"] == ["demo", '"console"']
    assert lines["security.secret_key"] == ["file", "(set)"]
    assert lines["security.staff_tokens"][:2] == ["file", "desk"]
    assert lines["hospitals"][:2] == ["file", "h1"]
    assert lines["wechat.app_secret"] == ["default", "(empty)"]
    assert FILE_TOKEN not in result.stdout and "cli-test-secret-key" not in result.stdout
    assert "defaults < --demo < file < GUAHAO_* env" in result.stdout


def test_check_config_without_a_file_says_so(tmp_path: Path) -> None:
    result = run("check-config", cwd=tmp_path)
    assert result.returncode == 0 and "no config file: built-in defaults" in result.stdout
    assert "note: no hospitals configured, nothing can be booked" in result.stdout
    demo = run("check-config", "--demo", cwd=tmp_path)
    assert "2 hospital(s)" in demo.stdout and "hospitals" in demo.stdout and "demo" in demo.stdout


def test_schedule_import_demo_sees_the_demo_hospitals(tmp_path: Path) -> None:
    day = "2030-01-02"
    csv = tmp_path / "s.csv"
    csv.write_text(
        "hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name,name_en\n"
        f"bjdyyy,xnk,李娜,expert,{day},18:00,20:00,5,50,李娜,Li Na\n"
    )
    without = run("schedule", "import", str(csv), cwd=tmp_path)
    assert without.returncode == 1 and 'unknown hospital "bjdyyy"' in without.stderr
    result = run("schedule", "import", str(csv), "--demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imported 1 slots (1 new, 0 updated)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "argument --port: expected a port number from 1 to 65535, got 99999"),
        (["--port", "0"], "argument --port: expected a port number from 1 to 65535, got 0"),
        (["--port", "http"], "argument --port: expected a port number from 1 to 65535, got 'http'"),
        (["--host", ""], "argument --host: expected a host name or address, got ''"),
    ],
)
def test_serve_refuses_a_bad_port_or_host_before_starting_anything(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run("serve", "--demo", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == [], "no data directory, no Redis: nothing started"


def test_every_command_that_needs_hospitals_takes_demo() -> None:
    for command in (["serve"], ["worker"], ["chat"], ["schedule", "import"], ["broadcast"], ["checkin"],
                    ["sweep"], ["check-config"]):  # fmt: skip
        result = run(*command, "--help")
        assert "--demo" in result.stdout, command
