"""The Lua scripts as Redis runs them: each one whole (its preludes before its own text), each one loadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

import bot.storage
from bot.storage.scripts import Scripts, source

LUA = Path(bot.storage.__file__).parent / "lua"
SCRIPTS = sorted(path.stem for path in LUA.glob("*.lua"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_compiles_with_its_preludes(redis_db: redis.Redis, name: str) -> None:
    assert redis_db.script_load(source(name))


def test_a_script_runs_after_the_preludes_its_first_line_names() -> None:
    own = (LUA / "book.lua").read_text(encoding="utf-8")
    preludes = [(LUA / "lib" / f"{name}.lua").read_text(encoding="utf-8") for name in ("audit", "booking")]
    assert own.startswith("-- uses: audit, booking\n")
    assert source("book") == "".join(preludes) + own


def test_a_script_without_preludes_is_its_own_text() -> None:
    assert source("booking_facts") == (LUA / "booking_facts.lua").read_text(encoding="utf-8")


def test_an_error_line_is_the_line_of_the_composed_text(redis_db: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as caught:
        Scripts(redis_db, "book")["book"](keys=[], args=[])  # no fields to decode: fails on book.lua's first step
    line = int(str(caught.value).split("user_script:")[1].split(":")[0])
    assert "cjson.decode(call.fields_json)" in source("book").splitlines()[line - 1]
