"""The staff API's own description (SPEC §7): ``GET /api/staff/openapi.json`` (OpenAPI 3.1) and a page of it,
``GET /api/staff/docs`` (Swagger UI), both without a token.

The document is data, ``openapi.yaml`` beside this module, written by hand and kept true by tests/test_openapi.py
(it validates; every staff and FHIR URL rule is in it; the responses of the staff API tests match it). Data rather
than derived from code: the endpoints build their JSON from plain dicts (no response models to derive from), a
reader wants the prose, examples and error answers that a generator leaves out, and adding an endpoint is one block
of YAML beside its neighbours. Swagger UI is vendored (``static/swagger-ui``, Apache-2.0, unmodified) and the page
loads nothing from elsewhere (its Content-Security-Policy says so to the browser).
"""

from __future__ import annotations

import contextlib
import functools
import json
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml
from flask import Blueprint, Response

DOCUMENT = "openapi.yaml"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (read once), its version the package's."""
    text = resources.files(__package__).joinpath(DOCUMENT).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    with contextlib.suppress(PackageNotFoundError):  # run from a checkout without installing: the document's own
        document["info"]["version"] = version("guahao-bot")
    return document


def _page() -> bytes:
    return resources.files(__package__).joinpath("static/docs.html").read_bytes()


def staff_docs_blueprint() -> Blueprint:
    """``/api/staff/openapi.json``, ``/api/staff/docs`` and the page's files under ``/api/staff/static/``."""
    blueprint = Blueprint("staff_docs", __name__, url_prefix="/api/staff", static_folder="static")
    body = json.dumps(openapi_document(), ensure_ascii=False, indent=1).encode()

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return Response(body, mimetype="application/json", headers={"Access-Control-Allow-Origin": "*"})

    @blueprint.get("/docs")
    def docs() -> Response:
        return Response(_page(), mimetype="text/html", headers={"Content-Security-Policy": PAGE_POLICY})

    return blueprint
