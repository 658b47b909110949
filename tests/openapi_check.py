"""A pytest plugin (registered in conftest.py): every response of a documented staff or FHIR endpoint that any test
receives is checked against the OpenAPI document (adapters/staff/openapi.yaml) with openapi-core; a response that
does not match fails the test that received it. So the existing staff API tests keep the document true too.

Only responses of operations the document describes are checked here; that every staff and FHIR URL rule is
described is tests/test_openapi.py's job.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, request, request_finished
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from adapters.staff.docs import openapi_document

CHECKED_PREFIXES = ("/api/staff/", "/fhir/")
_lock = threading.Lock()
SEEN: list[tuple[str, str, int]] = []
"""(method, documented path, status) of every response checked, in order (tests/test_openapi.py reads it)."""
MISMATCHES: list[str] = []


@functools.cache
def openapi() -> OpenAPI:
    """The document as openapi-core reads it (built once)."""
    # FHIR answers are JSON under their own media type
    config = Config(extra_media_type_deserializers={"application/fhir+json": json.loads})
    return OpenAPI.from_dict(openapi_document(), config=config)


class _RequestLine(WerkzeugOpenAPIRequest):  # type: ignore[misc]
    """The request as response validation needs it: method, URL and headers, not the body (which may be too
    large to read again: that is what a 413 answers)."""

    @property
    def body(self) -> bytes | None:
        return None


def documented_path(rule: str) -> str:
    """A Flask URL rule (``/a/<serial>/b``, ``<path:x>``) written as an OpenAPI path (``/a/{serial}/b``)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def documented_operation(method: str, rule: str) -> dict[str, Any] | None:
    """The document's operation for this method and rule, if it has one."""
    item = openapi_document()["paths"].get(documented_path(rule))
    operation: dict[str, Any] | None = item.get(method.lower()) if item else None
    return operation


def mismatch(response: Response) -> str | None:
    """Why the current request's ``response`` does not match the document (None when it does)."""
    try:
        openapi().validate_response(
            _RequestLine(request._get_current_object()),  # type: ignore[attr-defined]
            WerkzeugOpenAPIResponse(response),
        )
    except Exception as exc:  # openapi-core raises one of many validation errors: all of them are a mismatch
        cause = exc.__cause__
        details = [str(e.message) for e in getattr(cause, "schema_errors", ())]
        return f"{type(exc).__name__}: {'; '.join(details) or exc}"
    return None


def check(sender: Flask, response: Response, **_: Any) -> None:
    """``request_finished`` receiver: check a documented endpoint's response, remember what was seen."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    if rule is None or not request.path.startswith(CHECKED_PREFIXES):
        return
    if documented_operation(request.method, rule) is None:
        return
    problem = mismatch(response)
    with _lock:
        SEEN.append((request.method, documented_path(rule), response.status_code))
        if problem:
            body = response.get_data(as_text=True)[:300]
            MISMATCHES.append(f"{request.method} {request.full_path} -> {response.status_code}: {problem}\n{body}")


@pytest.fixture(autouse=True)
def responses_match_the_openapi_document() -> Iterator[None]:
    """Check every staff/FHIR response of the test against the document; fail the test on a mismatch."""
    with _lock:
        MISMATCHES.clear()
    request_finished.connect(check)
    try:
        yield
    finally:
        request_finished.disconnect(check)
    with _lock:
        found = list(MISMATCHES)
        MISMATCHES.clear()
    if found:
        pytest.fail("responses that do not match adapters/staff/openapi.yaml:\n" + "\n".join(found), pytrace=False)
