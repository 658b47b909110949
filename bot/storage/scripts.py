"""The Lua scripts of ``bot/storage/lua/``: read once per process, registered once per client, called by SHA.

redis-py's ``Script`` sends ``EVALSHA`` and falls back to ``SCRIPT LOAD`` when the server does not know the script
yet (say after a restart, or on a replica just promoted by Sentinel), so callers never handle ``NOSCRIPT``
themselves; a pipeline of scripts (:meth:`Scripts.execute`) does the same for the whole pipeline.

**The durable step** (SPEC §7): a change the patient is told about — a booking, a cancellation, a reschedule, a
waitlist claim — is committed with :meth:`Scripts.run_durable` (or a pipeline with :meth:`Scripts.execute_durable`),
which sends ``WAIT min_replicas_ack ack_timeout_ms`` on the same connection right after the script(s), in the same
round trip. Its :class:`Commit` says whether enough replicas hold the change; when they do not, the caller must not
say "done" (``bot.settle`` tells the patient the outcome is being confirmed and sends it once known).

**Preludes.** A script cannot call another, so the steps several scripts share (taking a place and writing the
appointment, an audit entry, where a freed place goes) are local functions in ``bot/storage/lua/lib/<prelude>.lua``.
A script whose first line is ``-- uses: audit, booking`` is run as those preludes, in that order, followed by its own
text unchanged (:func:`source`): still one script, atomic, registered and called by the SHA of that composed text. A
prelude only defines local functions (each before the ones that call it), so it changes nothing by itself and keeps
the script's KEYS, ARGV and replies; it counts towards Lua's limit of 200 locals. An error's ``user_script:N`` is line
``N`` of the composed text, ``source(name).splitlines()[N - 1]``; in the script's own file it is line ``N`` minus the
number of lines of the preludes it uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from bot.config import RedisConfig

USES = re.compile(r"--\s*uses:(.*)")
"""The first line of a script that runs after preludes: their names, in order (see the module's "Preludes")."""


@cache
def source(name: str) -> str:
    """The text run as script ``name``: ``bot/storage/lua/<name>.lua`` after the preludes its first line names."""
    text = _lua(f"{name}.lua")
    uses = USES.fullmatch(text.partition("\n")[0])
    preludes = re.findall(r"\w+", uses[1]) if uses else []
    return "".join(_lua("lib", f"{prelude}.lua") for prelude in preludes) + text


def _lua(*path: str) -> str:
    return resources.files("bot.storage").joinpath("lua", *path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Durability:
    """How many replicas must acknowledge a change the patient is told about, and how long to wait for them."""

    replicas: int = 0
    timeout_ms: int = 500

    @classmethod
    def of(cls, config: RedisConfig) -> Durability:
        """The ``[redis]`` settings ``min_replicas_ack`` and ``ack_timeout_ms``."""
        return cls(config.min_replicas_ack, config.ack_timeout_ms)

    def queue(self, pipe: Pipeline) -> bool:
        """Add the ``WAIT`` to ``pipe`` (after the writes it must cover); whether one was added (none for 0)."""
        if self.replicas <= 0:
            return False
        pipe.execute_command("WAIT", self.replicas, self.timeout_ms)  # type: ignore[no-untyped-call]
        return True


@dataclass(frozen=True)
class Commit:
    """What a durable step returned: the script's reply, and whether ``min_replicas_ack`` replicas confirmed it."""

    reply: Any
    confirmed: bool
    acked: int | None = None


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

    def execute_durable(self, pipe: Pipeline, durability: Durability) -> tuple[list[Any], bool]:
        """:meth:`execute` followed, on the same connection and in the same round trip, by the ``WAIT`` of
        ``durability``: the replies (without the WAIT's) and whether the replicas confirmed every write before it."""
        if not durability.queue(pipe):
            return self.execute(pipe), True
        replies = self.execute(pipe)
        acked = int(replies[-1])
        return replies[:-1], acked >= durability.replicas

    def run_durable(self, name: str, keys: list[str], args: list[Any], durability: Durability) -> Commit:
        """Run script ``name`` as a change the patient will be told about: see the module's "durable step"."""
        if durability.replicas <= 0:
            return Commit(self.run(name, keys, args), True)
        pipe = self._client.pipeline(transaction=False)
        self.queue(pipe, name, keys, args)
        durability.queue(pipe)
        reply, acked = self.execute(pipe)
        return Commit(reply, int(acked) >= durability.replicas, int(acked))

    def run(self, name: str, keys: list[str], args: list[Any], client: redis.Redis | None = None) -> Any:
        """Run script ``name`` (on ``client``, e.g. a pipeline, if given)."""
        return self._scripts[name](keys=keys, args=args, client=client)
