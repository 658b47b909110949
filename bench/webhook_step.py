"""CPU time of one WeChat webhook step in-process, to compare two checkouts (before/after a change of the path).

    python bench/webhook_step.py [--root DIR] [--safe] [--steps 1000] [--booking]

``菜单`` from 50 users (plain or safe mode) through the Flask test client into ``wechat_blueprint`` over the real
engine on a fresh redis-server; the requests are signed (and encrypted) beforehand. Prints the process CPU time and
the wall time per step (the CPU time counts every thread of the process, so a step handed to a thread pool is
counted too). ``--booking``: instead, verified patients each send the whole booking conversation of
``bench/rush.py`` (1 → 内科 → 1 → 1 → Y, one hospital, a week of slots), and the CPU time and the Redis round
trips (requests the client sends: a command, a pipeline or a script call) are printed for each message of it.
``--root`` runs another checkout's code (``git archive <commit> | tar -x -C DIR``). Run both
checkouts alternately a few times: on a shared machine the wall time is noise, the CPU time much less so.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--safe", action="store_true")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--socket-timeout", type=float, default=0.0, help="the Redis client's (the web's: 1.0)")
    parser.add_argument("--booking", action="store_true", help="the whole booking conversation, per message")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    if args.booking:
        booking(args.steps // len(CONVERSATION), args.safe)
        return
    from flask import Flask

    import tests.test_wechat as wechat
    from adapters.wechat.webhook import wechat_blueprint
    from app.services import build_engine
    from bot.storage.runtime import EmbeddedRedis
    from tests.support import make_config, make_services

    assert wechat.__file__.startswith(str(args.root)), wechat.__file__
    server = EmbeddedRedis.start(None, appendonly=False)
    try:
        timeout = {"socket_timeout": args.socket_timeout} if args.socket_timeout else {}
        services = make_services(server.client(**timeout), make_config(rate_limit_per_minute=10**9))
        engine = build_engine(services)
        app = Flask("step")
        blueprint = wechat_blueprint(
            wechat.webhook_services(services, engine), wechat.wechat_config(args.safe), lambda *_: None
        )
        app.register_blueprint(blueprint)
        platform, signed = wechat.Platform(wechat.FlaskTransport(app), args.safe), []
        capture: dict[str, object] = {}
        platform.transport.request = lambda m, q, b=None: capture.update(q=q, b=b) or wechat.Answer(200, b"")  # type: ignore[method-assign]
        for i in range(args.steps + 200):
            platform.post(wechat.text_xml(f"o-{i % 50}", "菜单", platform.msg_id()))
            signed.append(("/wechat?" + urllib.parse.urlencode(capture["q"]), capture["b"]))  # type: ignore[arg-type]
        client = app.test_client()
        for url, body in signed[:200]:  # warm: scripts loaded, sessions exist
            client.post(url, data=body, content_type="text/xml")
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        for url, body in signed[200:]:
            assert client.post(url, data=body, content_type="text/xml").status_code == 200
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"cpu {1000 * cpu / args.steps:.3f} ms/step  wall {1000 * wall / args.steps:.3f} ms/step")
    finally:
        server.stop()


CONVERSATION = ["1", "内科", "1", "1", "Y"]
WARM = 50
"""Conversations before the measured ones: scripts loaded, code paths warm."""


def booking(conversations: int, safe: bool) -> None:
    """The booking conversation's CPU time and Redis round trips, per message."""
    from datetime import timedelta

    from flask import Flask
    from redis.connection import AbstractConnection

    import tests.test_wechat as wechat
    from adapters.wechat.webhook import wechat_blueprint
    from app.services import build_engine
    from bot.config import build_config
    from bot.patients import account_id
    from bot.storage.runtime import EmbeddedRedis
    from tests.support import CONFIG_RAW, NOW, id_number, make_services, patient_name, phone_number, schedule_csv

    sent = [0]
    send = AbstractConnection.send_packed_command

    def counting(connection: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent[0] += 1
        send(connection, command, check_health)  # type: ignore[arg-type]

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign,assignment]
    server = EmbeddedRedis.start(None, appendonly=False)
    try:
        raw = {**CONFIG_RAW, "hospitals": CONFIG_RAW["hospitals"][:1], "policy": {"rate_limit_per_minute": 10**9}}
        services = make_services(server.client(), build_config(raw))
        total = WARM + conversations
        services.schedule.import_csv(schedule_csv(NOW.date() + timedelta(days=1), capacity=total, hospitals=("h1",)))
        app = Flask("step")
        blueprint = wechat_blueprint(
            wechat.webhook_services(services, build_engine(services)), wechat.wechat_config(safe), lambda *_: None
        )
        app.register_blueprint(blueprint)
        platform, signed = wechat.Platform(wechat.FlaskTransport(app), safe), []
        capture: dict[str, object] = {}
        platform.transport.request = lambda m, q, b=None: capture.update(q=q, b=b) or wechat.Answer(200, b"")  # type: ignore[method-assign]
        for n in range(total):
            services.patients.add_patient(
                account_id(services.box, "wechat", f"o-{n}"), "wechat", patient_name(n), id_number(n), phone_number(n)
            )
            for content in CONVERSATION:
                platform.post(wechat.text_xml(f"o-{n}", content, platform.msg_id()))
                signed.append(("/wechat?" + urllib.parse.urlencode(capture["q"]), capture["b"]))  # type: ignore[arg-type]
        client = app.test_client()
        for url, body in signed[: WARM * len(CONVERSATION)]:
            client.post(url, data=body, content_type="text/xml")
        cpu, trips = [0.0] * len(CONVERSATION), [0] * len(CONVERSATION)
        gc.collect()
        for n, (url, body) in enumerate(signed[WARM * len(CONVERSATION) :]):
            started, before = time.process_time(), sent[0]
            assert client.post(url, data=body, content_type="text/xml").status_code == 200
            cpu[n % len(CONVERSATION)] += time.process_time() - started
            trips[n % len(CONVERSATION)] += sent[0] - before
        print(f"{'message':>10}{'cpu ms':>9}{'round trips':>13}")
        for content, spent, made in zip(CONVERSATION, cpu, trips, strict=True):
            print(f"{content:>10}{1000 * spent / conversations:9.3f}{made / conversations:13.1f}")
        mean_cpu = 1000 * sum(cpu) / conversations / len(CONVERSATION)
        print(f"{'mean':>10}{mean_cpu:9.3f}{sum(trips) / conversations / len(CONVERSATION):13.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
