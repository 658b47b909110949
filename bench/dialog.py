"""Dialog steps per second through the whole pipeline, against bare HGETALL+HSET round trips in the same run.

    python bench/dialog.py [--threads 8] [--steps 4000] [--rounds 5]

A step is what a WeChat or SMS message costs: claim the delivery, take the user's lock, load the session, run one
dialog step (a verified patient asking for help from the menu), save the session with the reply and release the
lock. The baseline is one HGETALL plus one HSET per operation on the same server from the same threads. Target:
ratio >= 0.3.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from common import compare  # type: ignore[import-not-found]

from app.services import build_engine
from bot.storage.runtime import EmbeddedRedis
from dialogs.message import Channel, Inbound
from tests.support import make_config, make_services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    per_thread = args.steps // args.rounds // args.threads

    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis.start(Path(data), appendonly=True)
        try:
            client = server.client()
            svc = make_services(client, make_config(rate_limit_per_minute=10**9))  # measure steps, not refusals
            engine = build_engine(svc)
            users = []
            for n in range(args.threads):  # one verified patient per thread, talking from its own account
                acct, _ = svc.patient(n + 1, channel="wechat", user=f"bench-{n}")
                users.append(f"bench-{n}")
            ids = itertools.count()

            def step(index: int, round_no: int) -> None:
                for _ in range(per_thread):
                    engine.handle(Inbound(Channel.wechat, users[index], "5", f"b{next(ids)}"))

            def raw(index: int, round_no: int) -> None:
                key = f"bench:session:{index}"
                for i in range(per_thread):
                    client.hgetall(key)
                    client.hset(key, mapping={"state": "menu.main", "n": i})

            compare(
                "dialog steps",
                "HGETALL+HSET",
                raw,
                step,
                threads=args.threads,
                per_thread=per_thread,
                rounds=args.rounds,
                target=0.3,
            )
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
