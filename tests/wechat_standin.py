"""A local stand-in of the WeChat official account API on 127.0.0.1, recording what it receives.

It serves ``GET /cgi-bin/token`` (a new token each time; the previous one stops working, as WeChat does after its
grace period), ``POST /cgi-bin/message/template/send``, ``/cgi-bin/message/custom/send``, ``/cgi-bin/menu/create``,
``/cgi-bin/qrcode/create`` and ``GET /cgi-bin/showqrcode`` (a picture)
(errcode 40001 for a token it did not issue last). ``fail_next(errcode)`` makes the next message call answer that
errcode once; ``invalidate_token()`` makes the current token invalid (as a refresh by someone else would).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_ID = "wx-standin-app"
APP_SECRET = "standin-secret"
POST_PATHS = (
    "/cgi-bin/message/template/send",
    "/cgi-bin/message/custom/send",
    "/cgi-bin/menu/create",
    "/cgi-bin/qrcode/create",
)
QR_IMAGE = b"\xff\xd8\xff\xe0 a stand-in QR code picture \xff\xd9"
"""What ``GET /cgi-bin/showqrcode?ticket=`` answers (WeChat serves the code's JPEG there, on mp.weixin.qq.com)."""


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class WeChatStandin:
    """State of the stand-in: issued tokens, queued failures, recorded requests."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    tokens_issued: int = 0
    valid_token: str | None = None
    failures: list[int] = field(default_factory=list)
    token_delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, errcode: int) -> None:
        """The next message or menu call answers ``errcode`` (once)."""
        with self.lock:
            self.failures.append(errcode)

    def invalidate_token(self) -> None:
        """The current token stops working (calls with it get 40001)."""
        with self.lock:
            self.valid_token = None

    def calls(self, path: str) -> list[Recorded]:
        """The recorded requests to ``path``."""
        return [r for r in self.requests if r.path == path]

    # --- the HTTP side ---------------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        with self.lock:
            self.requests.append(Recorded(method, path, query, body))
        if method == "GET" and path == "/cgi-bin/token":
            if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if self.token_delay_s:
                threading.Event().wait(self.token_delay_s)
            with self.lock:
                self.tokens_issued += 1
                self.valid_token = f"TOKEN-{self.tokens_issued}"
                return {"access_token": self.valid_token, "expires_in": 7200}
        if method == "POST" and path in POST_PATHS:
            with self.lock:
                if self.valid_token is None or query.get("access_token") != self.valid_token:
                    return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
                if self.failures:
                    code = self.failures.pop(0)
                    return {"errcode": code, "errmsg": f"stand-in error {code}"}
            if path.endswith("template/send"):
                return {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.requests)}
            if path.endswith("qrcode/create"):
                scene = (body or {}).get("action_info", {}).get("scene", {}).get("scene_str", "")
                return {"ticket": f"TICKET/{scene}", "url": f"http://weixin.qq.com/q/{len(self.requests)}"}
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 404, "errmsg": "no such API"}


def _handler(state: WeChatStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/cgi-bin/showqrcode":
                state.answer(method, url.path, query, None)
                self.send_response(200 if query.get("ticket") else 404)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(QR_IMAGE)))
                self.end_headers()
                self.wfile.write(QR_IMAGE)
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw.decode("utf-8")) if raw else None
            payload = json.dumps(state.answer(method, url.path, query, body), ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the access log
            return

    return Handler


@contextmanager
def running_standin() -> Iterator[WeChatStandin]:
    """A stand-in listening on a free port of 127.0.0.1; ``base_url`` is what ``wechat.api_base_url`` takes."""
    state = WeChatStandin()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
