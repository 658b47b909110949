"""A pushed XML text as the dict ``xmltodict.parse`` makes of it with its defaults (what wechatpy's typed messages
are built from), read in one expat pass with nothing else: no namespaces, entities or comments.

An element is its stripped text (None when empty), or a dict of its ``@attributes``, its children and its
``#text``; a repeated child is a list. The document is ``{root tag: root}``.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

Node = dict[str, Any]


def xml_dict(xml: str) -> Node:
    """The dict of ``xml`` (parsed as UTF-8 whatever its declaration says); expat's errors as they come, and
    ValueError on an entity declaration."""
    document: Node = {}
    parents: list[tuple[Node | None, list[str]]] = []
    item: Node | None = document
    data: list[str] = []

    def start(name: str, attributes: list[str]) -> None:
        nonlocal item, data
        parents.append((item, data))
        item = {"@" + key: value for key, value in zip(attributes[::2], attributes[1::2], strict=True)} or None
        data = []

    def characters(text: str) -> None:
        data.append(text)

    def end(name: str) -> None:
        nonlocal item, data
        text = "".join(data).strip() or None
        element = item
        item, data = parents.pop()
        if element is not None and text:
            element["#text"] = text
        item = _push(item, name, text if element is None else element)

    parser = expat.ParserCreate("utf-8")
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.EntityDeclHandler = _no_entities
    parser.Parse(xml.encode("utf-8"), True)
    return document


def _push(item: Node | None, key: str, value: Node | str | None) -> Node:
    """``item`` with ``value`` under ``key``: a second one makes a list."""
    node: Node = {} if item is None else item
    if key not in node:
        node[key] = value
    elif isinstance(node[key], list):
        node[key].append(value)
    else:
        node[key] = [node[key], value]
    return node


def _no_entities(*_: object) -> None:
    raise ValueError("entities are not allowed")
