"""The Lua scripts of ``bot/storage/lua/``: read once per process, registered once per client, called by SHA.

redis-py's ``Script`` sends ``EVALSHA`` and falls back to ``SCRIPT LOAD`` when the server does not know the script
yet (say after a restart), so callers never handle ``NOSCRIPT`` themselves.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError


@cache
def source(name: str) -> str:
    """The text of ``bot/storage/lua/<name>.lua``."""
    return resources.files("bot.storage").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The scripts one service uses, bound to its client: ``Scripts(r, "book")["book"](keys=..., args=...)``."""

    def __init__(self, client: redis.Redis, *names: str) -> None:
        self._client = client
        self._scripts: dict[str, Script] = {name: client.register_script(source(name)) for name in names}

    def __getitem__(self, name: str) -> Script:
        return self._scripts[name]

    def queue(self, pipe: Pipeline, name: str, keys: list[str], args: list[Any]) -> None:
        """Add script ``name`` to a pipeline by SHA (run them with :meth:`execute`)."""
        pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)

    def execute(self, pipe: Pipeline) -> list[Any]:
        """Run a pipeline of :meth:`queue`-d scripts; once again after loading them if the server forgot them."""
        commands = list(pipe.command_stack)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        if not any(isinstance(reply, NoScriptError) for reply in replies):
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        for script in self._scripts.values():  # a restarted server: load ours, run the same commands again
            script.sha = self._client.script_load(script.script)
        for args, options in commands:
            pipe.execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return pipe.execute()

    def run(self, name: str, keys: list[str], args: list[Any], client: redis.Redis | None = None) -> Any:
        """Run script ``name`` (on ``client``, e.g. a pipeline, if given)."""
        return self._scripts[name](keys=keys, args=args, client=client)
