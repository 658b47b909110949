"""A local stand-in of the Twilio REST API (Messages only), for outbound tests through the real twilio SDK.

A threaded HTTP server on 127.0.0.1 that records every request and answers ``POST
/2010-04-01/Accounts/<sid>/Messages.json`` the way Twilio does: 201 with a message resource, or a scripted
failure (429, 500, a 400 with a Twilio error code such as 21610) queued with :meth:`TwilioStandIn.fail_next`.
Wrong credentials get Twilio's 401 (20003); other paths a 404 (20404).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

_MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
}


@dataclass(frozen=True)
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None
    headers: dict[str, str]


@dataclass
class TwilioStandIn:
    """The server; ``base_url`` goes into ``[sms] api_base_url``."""

    account_sid: str
    auth_token: str
    requests: list[Recorded] = field(default_factory=list)
    _failures: deque[tuple[int, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- life ------------------------------------------------------------------------------------------
    def start(self) -> TwilioStandIn:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                standin._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                standin._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- scripting -------------------------------------------------------------------------------------
    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` message creations with ``status`` (and Twilio error ``code``)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((status, code or {429: 20429}.get(status, 20500 if status >= 500 else status)))

    def messages(self) -> list[Recorded]:
        """The message-creation requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    # --- answering -------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        path = urlparse(handler.path).path
        auth = _basic_auth(handler.headers.get("Authorization"))
        recorded = Recorded(handler.command, path, form, auth, dict(handler.headers.items()))
        with self._lock:
            self.requests.append(recorded)
        if auth != (self.account_sid, self.auth_token):
            _answer(handler, 401, _error(401, 20003))
            return
        if handler.command != "POST" or path != _MESSAGES_PATH.format(sid=self.account_sid):
            _answer(handler, 404, _error(404, 20404))
            return
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            _answer(handler, failure[0], _error(*failure))
            return
        if not form.get("To") or not (form.get("Body") or form.get("MediaUrl")):
            _answer(handler, 400, _error(400, 21211 if not form.get("To") else 21602))
            return
        _answer(handler, 201, self._message(form))

    def _message(self, form: dict[str, str]) -> dict[str, Any]:
        sid = f"SM{next(self._ids):032x}"
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": _MESSAGES_PATH.format(sid=self.account_sid)[:-5] + f"/{sid}/Media.json"},
            "to": form.get("To"),
            "uri": _MESSAGES_PATH.format(sid=self.account_sid)[:-5] + f"/{sid}.json",
        }


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _error(status: int, code: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": _ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _answer(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
