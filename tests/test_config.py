"""Configuration: file, defaults, environment overrides, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rules
from bot.config import Config, build_config, describe_config, load_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "k" * 40


def test_no_file_means_built_in_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config == Config()
    assert config.server.port == 8000 and config.redis.url == "" and config.sms.provider == "console"
    assert config.policy_preset == "beijing-114" and config.policy.cancel_deadline == "15:00"


def test_default_path_is_config_toml_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[server]\nport = 9001\n")
    config = load_config(None, env={})
    assert config.server.port == 9001
    assert config.path == Path("config.toml")


def test_example_config_works_as_is_and_documents_every_key() -> None:
    example = ROOT / "config.example.toml"
    config = load_config(example, env={})
    assert config.hospitals, "the example carries a hospital to book at"
    text = example.read_text()
    for section in ("server", "redis", "security", "wechat", "sms"):
        for key in getattr(config, section).__dataclass_fields__:
            assert f"{key} =" in text, f"{section}.{key} is not documented in config.example.toml"
    for key in rules.policy_keys():
        assert f"{key} =" in text, f"policy.{key} is not documented in config.example.toml"


def test_environment_overrides_every_section() -> None:
    env = {
        "GUAHAO_WECHAT_TOKEN": "tok123",
        "GUAHAO_SERVER_PORT": "9100",
        "GUAHAO_SERVER_SIMULATOR": "true",
        "GUAHAO_REDIS_URL": "redis://127.0.0.1:6390/0",
        "GUAHAO_SECURITY_SECRET_KEY": SECRET,
        "GUAHAO_SECURITY_STAFF_TOKENS": '[{"name": "desk", "token": "0123456789abcdef0"}]',
        "GUAHAO_POLICY_CANCEL_DEADLINE": "14:00",
        "GUAHAO_POLICY_LIMIT_SAME_DAY": "3",
        "GUAHAO_CONFIG": "ignored: not a setting",
        "OTHER": "ignored",
    }
    config = load_config(ROOT / "config.example.toml", env=env)
    assert config.wechat.token == "tok123"
    assert config.server.port == 9100 and config.server.simulator is True
    assert config.redis.url == "redis://127.0.0.1:6390/0"
    assert config.security.secret_key == SECRET
    assert [(t.name, t.token) for t in config.security.staff_tokens] == [("desk", "0123456789abcdef0")]
    assert config.policy.cancel_deadline == "14:00" and config.policy.limit_same_day == 3
    # a hospital inherits the global overrides
    assert config.hospitals[0].policy.limit_same_day == 3


def test_plain_string_staff_tokens_are_named_by_position() -> None:
    config = load_config(None, env={"GUAHAO_SECURITY_STAFF_TOKENS": "aaaaaaaaaaaaaaaa1, bbbbbbbbbbbbbbbb2"})
    assert [t.name for t in config.security.staff_tokens] == ["staff1", "staff2"]


def test_hospital_policy_overrides_and_presets() -> None:
    config = build_config(
        {
            "policy": {"limit_7_days": 4},
            "hospitals": [
                {
                    "id": "a",
                    "name": "A",
                    "policy": {"cancel_deadline": "14:00"},
                    "departments": [{"id": "d", "name": "D"}],
                },
                {"id": "b", "name": "B", "policy": {"preset": "changshu"}},
                {"id": "c", "name": "C"},
            ],
        }
    )
    a, b, c = config.hospitals
    assert a.policy.cancel_deadline == "14:00" and a.policy.limit_7_days == 4
    assert b.policy.cancel_deadline == "start"
    assert c.policy == config.policy
    assert a.department("d") is not None and a.department("x") is None
    assert config.hospital("b") is b and config.hospital("zzz") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"policy": {"cancel_deadline": "25:00"}}, 'policy.cancel_deadline: expected HH:MM, got "25:00"'),
        ({"policy": {"preset": "shanghai"}}, "policy.preset: expected one of"),
        ({"policy": {"no_such_rule": 1}}, "policy.no_such_rule: expected a known policy key"),
        ({"server": {"port": "80"}}, 'server.port: expected an integer, got "80"'),
        ({"server": {"port": True}}, "server.port: expected an integer, got true"),
        ({"server": {"port": 70000}}, "server.port: expected a port number from 1 to 65535, got 70000"),
        ({"server": {"simulator": "yes"}}, 'server.simulator: expected true or false, got "yes"'),
        (
            {"server": {"hots": "x"}},
            "server.hots: unknown key; expected one of: host, port, public_url, simulator, calendar_base_url",
        ),
        (
            {"server": {"public_url": "example.org"}},
            "server.public_url: expected a URL starting with http://",
        ),
        ({"servers": {}}, "servers: unknown section; expected one of: server, redis"),
        ({"server": 3}, "server: expected a table, got 3"),
        ({"redis": {"url": "mysql://x"}}, "redis.url: expected a URL starting with redis://"),
        (
            {"redis": {"appendfsync": "no"}},
            'redis.appendfsync: expected one of "always", "everysec", got "no"',
        ),
        (
            {"security": {"secret_key": "short"}},
            "security.secret_key: expected a string of at least 32 characters",
        ),
        ({"security": {"staff_tokens": "abc"}}, "security.staff_tokens: expected a list of tokens"),
        (
            {"security": {"staff_tokens": ["short"]}},
            "security.staff_tokens[0].token: expected a string of at least 16",
        ),
        (
            {"security": {"staff_tokens": [{"name": "a b", "token": "x" * 16}]}},
            "security.staff_tokens[0].name",
        ),
        (
            {"security": {"staff_tokens": [{"token": "x" * 16}]}},
            "security.staff_tokens[0]: expected a token string",
        ),
        (
            {"security": {"staff_tokens": [{"name": "a", "token": "x" * 16}, {"name": "a", "token": "y" * 16}]}},
            'security.staff_tokens[1].name: expected a unique name, got "a" twice',
        ),
        ({"wechat": {"encoding_aes_key": "abc"}}, "wechat.encoding_aes_key: expected 43 letters and digits"),
        ({"wechat": {"push": "fax"}}, 'wechat.push: expected one of "api", "console", got "fax"'),
        (
            {"sms": {"provider": "sinch"}},
            'sms.provider: expected one of "console", "twilio", "aliyun", "tencentcloud", got "sinch"',
        ),
        ({"hospitals": {"id": "a"}}, "hospitals: expected a list of [[hospitals]] tables"),
        (
            {"hospitals": [{"name": "A"}]},
            "hospitals[0].id: expected an id (text without commas, quotes, | or control characters)",
        ),
        ({"hospitals": [{"id": "a"}]}, "hospitals[0].name: expected a non-empty string, got nothing"),
        (
            {"hospitals": [{"id": "a", "name": "A", "phone": 110}]},
            "hospitals[0].phone: expected a string, got 110",
        ),
        ({"hospitals": [{"id": "a", "name": "A", "beds": 3}]}, "hospitals[0].beds: unknown key"),
        (
            {"hospitals": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]},
            'hospitals[1].id: expected a unique hospital id, got "a" twice',
        ),
        (
            {"hospitals": [{"id": "a", "name": "A", "policy": {"cancel_deadline": "9"}}]},
            'hospitals[0].policy.cancel_deadline: expected HH:MM or "start", got "9"',
        ),
        (
            {"hospitals": [{"id": "a", "name": "A", "departments": "x"}]},
            "hospitals[0].departments: expected a list",
        ),
        (
            {"hospitals": [{"id": "a", "name": "A", "departments": [{"id": "d", "name": ""}]}]},
            "hospitals[0].departments[0].name: expected a non-empty string",
        ),
        (
            {
                "hospitals": [
                    {
                        "id": "a",
                        "name": "A",
                        "departments": [{"id": "d", "name": "D"}, {"id": "d", "name": "E"}],
                    }
                ]
            },
            'hospitals[0].departments[1].id: expected a unique department id, got "d" twice',
        ),
        (
            {"hospitals": [{"id": "a", "name": "A", "departments": [{"id": "d", "name": "D", "x": 1}]}]},
            "hospitals[0].departments[0].x: unknown key",
        ),
    ],
)
def test_every_mistake_is_one_line_naming_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_secrets_are_never_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"security": {"secret_key": "hunter2-hunter2"}})
    assert "hunter2" not in str(caught.value)
    assert "15 characters" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        build_config({"wechat": {"token": 12345678}})
    assert "12345678" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUAHAO_SERVER_PORT": "eighty"}, 'GUAHAO_SERVER_PORT: expected an integer, got "eighty"'),
        (
            {"GUAHAO_SERVER_SIMULATOR": "maybe"},
            'GUAHAO_SERVER_SIMULATOR: expected true or false, got "maybe"',
        ),
        ({"GUAHAO_WECHAT_TOKN": "x"}, "GUAHAO_WECHAT_TOKN: unknown setting; wechat has app_id"),
        ({"GUAHAO_POLICY_LIMIT_SAME_DAY": "many"}, "policy.limit_same_day: expected an integer"),
        ({"GUAHAO_POLICY_CANCEL_DEADLINE": "25:00"}, 'policy.cancel_deadline: expected HH:MM, got "25:00"'),
    ],
)
def test_bad_environment_override_is_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, env=env)


def test_env_override_into_a_non_table_section_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("server = 3\n")
    with pytest.raises(ConfigError, match="^server: expected a table, got 3"):
        load_config(path, env={"GUAHAO_SERVER_PORT": "1"})


def test_file_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^config file not found: .*nope.toml$"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, env={})


# --- precedence: defaults < --demo < file < env (SPEC §7) -------------------------------------------------
FILE_TOKEN = "file-staff-token-0123456789"
PRODUCTION = f"""
[security]
staff_tokens = [{{ name = "desk", token = "{FILE_TOKEN}" }}]
[sms]
provider = "twilio"
account_sid = "AC0123"
auth_token = "twilio-auth-token"
from_number = "+15005550006"
[wechat]
push = "api"
[[hospitals]]
id = "own"
name = "自己的医院"
"""


def demo_layer() -> dict[str, Any]:
    from app.demo import demo_config_layer

    return demo_config_layer()


def test_demo_never_replaces_an_explicit_setting(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(PRODUCTION)
    config = load_config(path, env={}, demo=demo_layer())
    assert [(t.name, t.token) for t in config.security.staff_tokens] == [("desk", FILE_TOKEN)]
    assert config.demo_staff_token is None, "a configured token is never the demo's"
    assert config.sms.provider == "twilio" and config.sms.auth_token == "twilio-auth-token"
    assert config.wechat.push == "api"
    assert [h.id for h in config.hospitals] == ["own"]
    assert config.server.simulator is True, "the demo turns the simulator on when the file is silent on it"
    assert config.source("security.staff_tokens") == "file" and config.source("sms.provider") == "file"
    assert config.source("hospitals") == "file" and config.source("server.simulator") == "demo"


def test_demo_fills_what_the_file_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("[server]\nport = 8123\n[security]\nstaff_tokens = []\n")
    config = load_config(path, env={}, demo=demo_layer())
    assert config.server.port == 8123 and config.source("server.port") == "file"
    assert [h.id for h in config.hospitals] == ["bjdyyy", "bjetyy"] and config.source("hospitals") == "demo"
    assert config.sms.provider == "console" and config.wechat.push == "console"
    assert config.source("wechat.push") == "demo"
    [token] = config.security.staff_tokens
    assert config.demo_staff_token == token.token and config.source("security.staff_tokens") == "demo"


def test_env_beats_the_file_and_the_file_beats_the_demo(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[server]\nsimulator = false\n[wechat]\npush = "api"\n')
    env = {"GUAHAO_WECHAT_PUSH": "console", "GUAHAO_SMS_PROVIDER": "twilio", "GUAHAO_SERVER_PORT": "8200"}
    config = load_config(path, env=env, demo=demo_layer())
    assert config.server.simulator is False and config.source("server.simulator") == "file"
    assert config.wechat.push == "console" and config.source("wechat.push") == "env"
    assert config.sms.provider == "twilio" and config.source("sms.provider") == "env"
    assert config.server.port == 8200 and config.source("server.port") == "env"
    assert config.source("server.host") == "default"


def test_env_staff_tokens_keep_the_demo_token_out() -> None:
    env = {"GUAHAO_SECURITY_STAFF_TOKENS": '[{"name": "ops", "token": "ops-token-0123456789"}]'}
    config = load_config(None, env=env, demo=demo_layer())
    assert [t.name for t in config.security.staff_tokens] == ["ops"] and config.demo_staff_token is None


def test_without_demo_nothing_is_filled() -> None:
    config = load_config(None, env={})
    assert config.hospitals == () and config.security.staff_tokens == () and config.server.simulator is False
    assert config.demo_staff_token is None and config.source("hospitals") == "default"


def test_guahao_config_names_the_file_when_no_path_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[server]\nport = 9001\n")
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 9002\n")
    assert load_config(None, env={"GUAHAO_CONFIG": str(other)}).server.port == 9002
    assert load_config(None, env={}).server.port == 9001
    explicit = load_config(tmp_path / "config.toml", env={"GUAHAO_CONFIG": str(other)})
    assert explicit.server.port == 9001, "--config beats GUAHAO_CONFIG"
    with pytest.raises(ConfigError, match="^config file not found: .*missing.toml"):
        load_config(None, env={"GUAHAO_CONFIG": str(tmp_path / "missing.toml")})


def test_every_part_is_described_with_its_source_and_secrets_hidden(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(PRODUCTION)
    config = load_config(path, env={"GUAHAO_SECURITY_SECRET_KEY": SECRET}, demo=demo_layer())
    parts = {part: (shown, source) for part, shown, source in describe_config(config)}
    assert parts["security.secret_key"] == ("(set)", "env")
    assert parts["sms.auth_token"] == ("(set)", "file")
    assert parts["wechat.token"] == ("(empty)", "default")
    assert parts["server.simulator"] == ("true", "demo")
    assert parts["hospitals"][1] == "file" and "own" in parts["hospitals"][0]
    assert parts["security.staff_tokens"][1] == "file" and "desk" in parts["security.staff_tokens"][0]
    shown = repr(describe_config(config))
    assert FILE_TOKEN not in shown and SECRET not in shown and "twilio-auth-token" not in shown
    for section in ("server", "redis", "wechat", "sms"):
        for key in getattr(config, section).__dataclass_fields__:
            assert f"{section}.{key}" in parts


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_server_port_is_1_to_65535(port: int) -> None:
    with pytest.raises(ConfigError, match="^server.port: expected a port number from 1 to 65535"):
        build_config({"server": {"port": port}})


def test_server_host_is_not_empty() -> None:
    with pytest.raises(ConfigError, match="^server.host: expected a host name or address"):
        build_config({"server": {"host": " "}})


# --- ids: any text without commas, quotes or control characters (SPEC §7) ---------------------------------
def test_chinese_ids_and_english_names() -> None:
    config = build_config(
        {
            "hospitals": [
                {
                    "id": "协和医院",
                    "name": "北京协和医院",
                    "name_en": "Peking Union Medical College Hospital",
                    "departments": [
                        {"id": "心内科", "name": "心血管内科", "name_en": "Cardiology"},
                        {"id": "a:b c", "name": "X"},
                    ],
                }
            ]
        }
    )
    [hospital] = config.hospitals
    assert hospital.id == "协和医院" and hospital.name_en == "Peking Union Medical College Hospital"
    assert hospital.department("心内科") == config.hospitals[0].departments[0]
    assert hospital.departments[0].name_en == "Cardiology" and hospital.departments[1].name_en == ""


@pytest.mark.parametrize("bad", ["a,b", 'a"b', "a'b", "a\tb", "a\u200bb", " a", "", "a|b", "x" * 65])
def test_ids_refuse_commas_quotes_and_control_characters(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"^hospitals\[0\]\.id: expected an id"):
        build_config({"hospitals": [{"id": bad, "name": "A"}]})


def test_every_mistake_of_a_document_is_reported_at_once_on_one_line() -> None:
    raw = {
        "server": {"port": 70000, "hots": "x"},
        "wechat": {"token": 12345678, "push": "fax"},
        "hospitals": [{"id": "a", "name": "", "departments": [{"id": "d,e", "name": "D"}]}],
    }
    with pytest.raises(ConfigError) as caught:
        build_config(raw)
    text = str(caught.value)
    assert "\n" not in text
    assert text == "; ".join(
        [
            "server.port: expected a port number from 1 to 65535, got 70000",
            "server.hots: unknown key; expected one of: host, port, public_url, simulator, calendar_base_url",
            "wechat.token: expected a string, got (hidden)",
            'wechat.push: expected one of "api", "console", got "fax"',
            'hospitals[0].name: expected a non-empty string, got ""',
            "hospitals[0].departments[0].id: expected an id (text without commas, quotes, | or control characters), "
            'got "d,e"',
        ]
    )
