"""CPU time of one WeChat webhook step in-process, to compare two checkouts (before/after a change of the path).

    python bench/webhook_step.py [--root DIR] [--safe] [--steps 1000]

``菜单`` from 50 users (plain or safe mode) through the Flask test client into ``wechat_blueprint`` over the real
engine on a fresh redis-server; the requests are signed (and encrypted) beforehand. Prints the process CPU time and
the wall time per step (the CPU time counts every thread of the process, so a step handed to a thread pool is
counted too). ``--root`` runs another checkout's code (``git archive <commit> | tar -x -C DIR``). Run both
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
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
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


if __name__ == "__main__":
    main()
