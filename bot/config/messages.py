"""pydantic's validation errors as the project's one-line messages: ``key: expected X, got Y`` (SPEC §7).

Every error pydantic found is reported, in document order, joined by "; " on one line; secrets are never shown.
"""

from __future__ import annotations

import json
import types
from typing import Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.config.models import ID_RULE, MAX_ID, Document, Hidden

# pydantic's error types -> what was expected, in our words
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dataclass_type": "a table",
    "dataclass_args_type": "a table",
    "dict_type": "a table",
}
# a list of what, by the key that holds it
_LISTS = {
    "staff_tokens": "a list of tokens",
    "hospitals": "a list of [[hospitals]] tables",
    "departments": "a list of tables",
}
_REQUIRED = {"id": f"{ID_RULE} of 1 to {MAX_ID} characters, no spaces around it", "name": "a non-empty string"}


def config_error_text(error: ValidationError, root: type = Document) -> str:
    """All of ``error``'s problems as one line."""
    return "; ".join(_line(detail, root) for detail in error.errors())


def where(loc: tuple[int | str, ...]) -> str:
    """``("hospitals", 0, "id")`` -> ``hospitals[0].id``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def show(value: Any) -> str:
    """A value as the user wrote it (JSON), ``nothing`` for none."""
    if value is None:
        return "nothing"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _line(detail: ErrorDetails, root: type) -> str:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    owner, key, reached = _walk(root, loc)
    if kind == "unexpected_keyword_argument":
        known = ", ".join(getattr(reached, "__pydantic_fields__", {}))
        return f"{where(loc)}: unknown {'section' if len(loc) == 1 else 'key'}; expected one of: {known}"
    if kind == "guahao":
        expected = str((detail.get("ctx") or {})["expected"])
    elif kind == "missing":
        expected, detail["input"] = _REQUIRED.get(str(key), "a value"), None
    elif kind in ("tuple_type", "list_type"):
        expected = _LISTS.get(str(key), "a list")
    else:
        expected = _EXPECTED.get(kind, detail["msg"])
    return f"{where(loc)}: expected {expected}, got {_shown(detail['input'], owner, key)}"


def _shown(value: Any, owner: type | None, key: str | None) -> str:
    fields = getattr(owner, "__pydantic_fields__", {})
    if key in fields and any(isinstance(m, Hidden) for m in fields[key].metadata):
        return f"{len(value)} characters" if isinstance(value, str) else "(hidden)"
    return show(value)


def _walk(root: type, loc: tuple[int | str, ...]) -> tuple[type | None, str | None, Any]:
    """The class declaring the last known key of ``loc``, that key, and the class ``loc`` reaches (or stops at)."""
    owner: type | None = root
    current: Any = root
    key: str | None = None
    for part in loc:
        if isinstance(part, int):
            current = _item(current)
            continue
        fields = getattr(current, "__pydantic_fields__", None)
        if fields is None or part not in fields:
            break
        owner, key, current = current, part, _item(fields[part].annotation)
    return owner, key, current


def _item(annotation: Any) -> Any:
    """The class inside ``tuple[X, ...]``, ``X | None``…: where a location goes on."""
    while get_origin(annotation) in (tuple, list, Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return annotation
