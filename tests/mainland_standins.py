"""Local stand-ins of the Aliyun SMS and Tencent Cloud SMS send APIs, for outbound tests through the real SDKs.

Each is a threaded HTTP server on 127.0.0.1 that **verifies the request's signature** from the shared secret as the
provider does — Aliyun's V3 signature (``ACS3-HMAC-SHA256``: canonical request of method, path, sorted query, the
signed headers and the payload hash) and Tencent Cloud's ``TC3-HMAC-SHA256`` (the date/service/``tc3_request``
key chain over the canonical request) — and answers as the provider: a forged or wrongly keyed request gets
``SignatureDoesNotMatch`` / ``AuthFailure.SignatureFailure``. What was sent (number, signature name, template
code, variables) is recorded; a failure can be scripted for the next sends with ``fail_next``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit


@dataclass(frozen=True)
class Sent:
    """One accepted send request: to whom, under which signature, which template, with which variables."""

    phone: str
    sign_name: str
    template: str
    variables: dict[str, str] | list[str]


GARBAGE = "<garbage>"
"""``fail_next(GARBAGE, status=502)``: answer with an HTML page instead of the provider's JSON."""


@dataclass(frozen=True)
class Failure:
    """A scripted answer: an error ``code`` (for Tencent, ``per_number``: in ``SendStatusSet`` rather than the whole
    request), with HTTP ``status`` (Aliyun's gateway errors are 4xx/5xx, its business errors 200)."""

    code: str
    status: int = 200
    per_number: bool = False


@dataclass
class _StandIn:
    key_id: str
    secret: str
    content_type = "application/json;charset=utf-8"
    sent: list[Sent] = field(default_factory=list)
    refused_signatures: int = 0
    requests: int = 0
    _failures: deque[Failure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Any:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with standin._lock:
                    standin.requests += 1
                failure = standin._peek()
                if failure is not None and failure.code == GARBAGE:  # a proxy's error page, not the provider
                    standin._failure()
                    status, data, content_type = failure.status, b"<html>bad gateway</html>", "text/html"
                else:
                    status, payload = standin._answer(self, body)
                    data = json.dumps(payload, ensure_ascii=False).encode()
                    content_type = standin.content_type
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: ``[sms] api_base_url``."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, code: str, *, status: int = 200, per_number: bool = False, times: int = 1) -> None:
        """Answer the next ``times`` sends with this error."""
        with self._lock:
            self._failures.extend([Failure(code, status, per_number)] * times)

    def _peek(self) -> Failure | None:
        with self._lock:
            return self._failures[0] if self._failures else None

    def _failure(self) -> Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _record(self, sent: Sent) -> str:
        with self._lock:
            self.sent.append(sent)
            return f"{next(self._ids):06d}"

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


# --- Aliyun --------------------------------------------------------------------------------------------------
def _acs_encode(value: str) -> str:
    return quote(value, safe="-_.~")


@dataclass
class AliyunStandIn(_StandIn):
    """Aliyun's ``SendSms`` (RPC style, parameters in the query), V3-signed."""

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if not self._signed(handler, url.path or "/", query, body):
            with self._lock:
                self.refused_signatures += 1
            return 400, _aliyun_error(
                "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        if handler.headers.get("x-acs-action") != "SendSms" or handler.headers.get("x-acs-version") != "2017-05-25":
            return 404, _aliyun_error("InvalidAction.NotFound", "Specified api is not found")
        failure = self._failure()
        if failure is not None:
            return failure.status, _aliyun_error(failure.code, "scripted failure")
        variables = json.loads(query.get("TemplateParam") or "{}")
        serial = self._record(Sent(query["PhoneNumbers"], query["SignName"], query["TemplateCode"], variables))
        return 200, {"Code": "OK", "Message": "OK", "BizId": f"{serial}^0", "RequestId": f"req-{serial}"}

    def _signed(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str], body: bytes) -> bool:
        authorization = handler.headers.get("Authorization") or ""
        algorithm, _, rest = authorization.partition(" ")
        parts = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
        if algorithm != "ACS3-HMAC-SHA256" or parts.get("Credential") != self.key_id:
            return False
        payload_hash = handler.headers.get("x-acs-content-sha256") or ""
        if payload_hash != _sha256(body):
            return False
        signed = parts.get("SignedHeaders", "").split(";")
        if not {"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} <= set(signed):
            return False
        canonical_query = "&".join(f"{_acs_encode(k)}={_acs_encode(v)}" for k, v in sorted(query.items()))
        headers = "".join(f"{name}:{(handler.headers.get(name) or '').strip()}\n" for name in signed)
        canonical = "\n".join([handler.command, path, canonical_query, headers, ";".join(signed), payload_hash])
        to_sign = f"ACS3-HMAC-SHA256\n{_sha256(canonical.encode())}"
        expected = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("Signature", ""))


def _aliyun_error(code: str, message: str) -> dict[str, Any]:
    return {"Code": code, "Message": message, "RequestId": "req-error", "Recommend": "", "HostId": "dysmsapi"}


# --- Tencent Cloud -------------------------------------------------------------------------------------------
@dataclass
class TencentStandIn(_StandIn):
    """Tencent Cloud's ``SendSms`` (API 3.0, 2021-01-11, JSON body), TC3-HMAC-SHA256-signed."""

    content_type = "application/json"  # exactly: the SDK reads an error only from this content type

    sdk_app_id: str = ""

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        if not self._signed(handler, body):
            with self._lock:
                self.refused_signatures += 1
            return 200, _tencent_error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if handler.headers.get("X-TC-Action") != "SendSms" or handler.headers.get("X-TC-Version") != "2021-01-11":
            return 200, _tencent_error("InvalidAction", "unknown action")
        request = json.loads(body)
        if request.get("SmsSdkAppId") != self.sdk_app_id:
            return 200, _tencent_error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist")
        failure = self._failure()
        if failure is not None and not failure.per_number:
            return 200, _tencent_error(failure.code, "scripted failure")
        phone = request["PhoneNumberSet"][0]
        if failure is not None:
            status = {"SerialNo": "", "PhoneNumber": phone, "Fee": 0, "Code": failure.code, "Message": "scripted"}
        else:
            serial = self._record(Sent(phone, request["SignName"], request["TemplateId"], request["TemplateParamSet"]))
            status = {
                "SerialNo": f"2433:{serial}",
                "PhoneNumber": phone,
                "Fee": 1,
                "Code": "Ok",
                "Message": "send success",
            }
        status |= {"SessionContext": request.get("SessionContext", ""), "IsoCode": "CN"}
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "req-ok"}}

    def _signed(self, handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        authorization = handler.headers.get("Authorization") or ""
        algorithm, _, rest = authorization.partition(" ")
        parts = dict(item.strip().split("=", 1) for item in rest.split(",") if "=" in item)
        key_id, _, scope = parts.get("Credential", "").partition("/")
        timestamp = handler.headers.get("X-TC-Timestamp") or "0"
        day = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        if algorithm != "TC3-HMAC-SHA256" or key_id != self.key_id or scope != f"{day}/sms/tc3_request":
            return False
        signed = parts.get("SignedHeaders", "").split(";")
        if not {"content-type", "host"} <= set(signed):
            return False
        headers = "".join(f"{name}:{(handler.headers.get(name) or '').strip().lower()}\n" for name in signed)
        canonical = "\n".join(["POST", "/", "", headers, ";".join(signed), _sha256(body)])
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256(canonical.encode())}"
        key = _hmac(_hmac(_hmac(("TC3" + self.secret).encode(), day), "sms"), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("Signature", ""))


def _tencent_error(code: str, message: str) -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-error"}}
