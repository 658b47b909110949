"""Pushes to WeChat users through the official account API (wechatpy): template and customer-service messages.

:class:`WeChatApi` is wechatpy's ``WeChatClient`` on ``wechat.api_base_url`` whose access token lives in Redis,
shared by the web and worker processes. WeChat invalidates the previous token whenever a new one is fetched (after
a 5-minute grace), so only one process fetches at a time, under a Redis lock; the others wait and read what it
stored. A call refused for an invalid or expired token (40001, 40014, 42001) refreshes it once — unless another
process already did — and is retried once.

:class:`WeChatSender` is the :class:`bot.notifications.outbox.Sender` of the ``wechat`` channel. Reminders, broadcasts,
confirmations and cancellations go out as template messages when ``wechat.reminder_template_id`` is set; the
template assumed has one field, ``content`` (its body is ``{{content.DATA}}``), which carries the whole text. Without
a template id they go out as customer-service text, as replies (kind ``reply``) always do. A user out of the
48-hour window (45015) or no longer following (43004) is ``unreachable``: the caller may fall back to SMS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import requests
from redis.exceptions import LockError
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from adapters.console.sender import ConsoleSender
from bot.config import WeChatConfig
from bot.crypto import SecretBox
from bot.errors import GuahaoError
from bot.notifications.outbox import OutboundMessage, Outbox, OutboxKind, Sender, SendLedger, SendResult
from bot.patients import account_id
from bot.storage import keys

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
"""Invalid credential, invalid token, expired token: refresh and retry once."""
UNREACHABLE_ERRORS = frozenset({45015, 43004, 43019, 40003, 45047})
"""Out of the 48 h window, not following, blocked the account, unknown openid, customer-service quota used up."""
UNREACHABLE = "unreachable"
TOKEN_EARLY_S = 300
"""A stored token expires this long before WeChat's expiry, so it is replaced before anyone gets 42001."""
TOKEN_LOCK_TIMEOUT_S = 30
TOKEN_LOCK_WAIT_S = 15
HTTP_TIMEOUT_S = 10.0
TEMPLATE_KINDS = frozenset(
    {OutboxKind.reminder, OutboxKind.broadcast, OutboxKind.confirmation, OutboxKind.cancellation, OutboxKind.no_show}
)
TEMPLATE_FIELD = "content"

MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "预约挂号", "key": "BOOK"},
        {"type": "click", "name": "我的预约", "key": "MY_APPOINTMENTS"},
        {"type": "click", "name": "更多", "key": "HELP"},
    ]
}
"""The custom menu; the keys are those ``adapters.wechat.webhook.CLICK_COMMANDS`` understands."""


class TokenUnavailableError(GuahaoError):
    """No access token could be had: another process holds the refresh lock too long, or WeChat refused."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WeChatApi(WeChatClient):  # type: ignore[misc]  # wechatpy has no type hints
    """wechatpy's client on ``api_base_url`` with the access token shared through Redis and refreshed under a lock."""

    def __init__(self, config: WeChatConfig, redis_client: redis.Redis, *, timeout: float = HTTP_TIMEOUT_S) -> None:
        # auto_retry off: wechatpy would fetch a token on its own, outside the lock
        super().__init__(config.app_id, config.app_secret, timeout=timeout, auto_retry=False)
        base = config.api_base_url
        self.API_BASE_URL = base if base.endswith("/") else base + "/"
        self._redis = redis_client
        self._token_key = keys.wechat_access_token(config.app_id)
        self._lock_key = keys.wechat_token_lock(config.app_id)

    @property
    def access_token(self) -> str:
        """What wechatpy puts in every call: the shared token (fetched first when there is none)."""
        return self.token()

    def stored_token(self) -> str | None:
        """The token every process uses now, if any."""
        raw = self._redis.get(self._token_key)
        return _text(raw) if raw else None

    def token(self) -> str:
        """The shared token, fetched when there is none (or it is about to expire)."""
        return self.stored_token() or self.refresh()

    def refresh(self, stale: str | None = None) -> str:
        """A valid token: the stored one when it differs from ``stale`` (another process refreshed meanwhile),
        else a new one fetched by this process while holding the lock, so that tokens are never fetched twice."""
        lock = self._redis.lock(self._lock_key, timeout=TOKEN_LOCK_TIMEOUT_S, blocking_timeout=TOKEN_LOCK_WAIT_S)
        if not lock.acquire():
            stored = self.stored_token()
            if stored and stored != stale:
                return stored
            raise TokenUnavailableError("the WeChat access token is being refreshed by another process")
        try:
            stored = self.stored_token()
            if stored and stored != stale:
                return stored
            return self._fetch()
        finally:
            try:
                lock.release()
            except LockError:  # held longer than its timeout: another process may have taken over
                log.warning("wechat token lock expired while fetching")

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's hook: replace the stored token (under the lock)."""
        return {"access_token": self.refresh(stale=self.stored_token())}

    def _fetch(self) -> str:
        response = self._http.get(
            self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        response.raise_for_status()
        result = response.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self, response=response)
        token = str(result["access_token"])
        expires_in = int(result.get("expires_in", 7200))
        self._redis.set(self._token_key, token, ex=max(60, expires_in - TOKEN_EARLY_S))
        self.expires_at = int(time.time()) + expires_in
        log.info("wechat access token fetched", extra={"expires_in": expires_in})
        return token

    def call(self, request: Callable[[], T]) -> T:
        """Run one API call; refused for its token, refresh the token once (if nobody did) and run it again."""
        used = self.token()
        try:
            return request()
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat token refused, refreshing", extra={"errcode": exc.errcode})
            self.refresh(stale=used)
            return request()


class Followers:
    """Who stopped following the account (pushes to them are refused at once) — a follow again clears it."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def left(self, acct: str) -> None:
        """The account unfollowed (an ``unsubscribe`` event, or WeChat's 43004 on a push)."""
        self._redis.set(keys.wechat_unsubscribed(acct), int(time.time()))

    def followed(self, acct: str) -> None:
        """The account follows (again)."""
        self._redis.delete(keys.wechat_unsubscribed(acct))

    def has_left(self, acct: str) -> bool:
        """Whether the account unfollowed and has not followed since."""
        return bool(self._redis.exists(keys.wechat_unsubscribed(acct)))


class WeChatSender:
    """The ``wechat`` channel's :class:`Sender`: template or customer-service messages, each sent at most once."""

    def __init__(
        self,
        api: WeChatApi,
        redis_client: redis.Redis,
        box: SecretBox,
        config: WeChatConfig,
        ledger: SendLedger | None = None,
    ) -> None:
        self._api = api
        self._followers = Followers(redis_client)
        self._box = box
        self._template_id = config.reminder_template_id
        self._ledger = ledger if ledger is not None else SendLedger(redis_client, box)

    def send(self, message: OutboundMessage) -> SendResult:
        """Push ``message``; a key already used sends nothing and returns the first result."""
        if message.channel != "wechat":
            return SendResult(ok=False, error=f"not a wechat message: {message.channel}")
        acct = account_id(self._box, "wechat", message.to)
        if self._followers.has_left(acct):
            return SendResult(ok=False, error=UNREACHABLE)
        return self._ledger.once(message.idempotency_key, lambda: self._deliver(message, acct))

    def _deliver(self, message: OutboundMessage, acct: str) -> SendResult:
        api = self._api
        template = self._template_id if message.kind in TEMPLATE_KINDS else ""
        try:
            if template:
                data = {TEMPLATE_FIELD: {"value": message.text}}
                response = api.call(lambda: api.message.send_template(message.to, template, data))
            else:
                response = api.call(lambda: api.message.send_text(message.to, message.text))
        except WeChatClientException as exc:
            if exc.errcode == 43004:
                self._followers.left(acct)
            if exc.errcode in UNREACHABLE_ERRORS:
                return SendResult(ok=False, error=UNREACHABLE)
            log.warning("wechat push refused", extra={"errcode": exc.errcode, "kind": str(message.kind)})
            return SendResult(ok=False, error=f"wechat error {exc.errcode}")
        except (requests.RequestException, TokenUnavailableError) as exc:
            log.warning("wechat push failed", extra={"error": type(exc).__name__, "kind": str(message.kind)})
            return SendResult(ok=False, error=f"network: {type(exc).__name__}")
        msgid = response.get("msgid") if isinstance(response, dict) else None
        return SendResult(ok=True, provider_id=str(msgid) if msgid is not None else None)


def wechat_sender(config: WeChatConfig, redis_client: redis.Redis, box: SecretBox, outbox: Outbox) -> Sender:
    """The sender ``[wechat] push`` asks for: the API, or the console outbox (demo, simulator)."""
    ledger = SendLedger(redis_client, box)
    if config.push == "console":
        return ConsoleSender(outbox, ledger)
    return WeChatSender(WeChatApi(config, redis_client), redis_client, box, config, ledger)


def create_menu(api: WeChatApi) -> None:
    """Post the custom menu (``guahao wechat-menu``): 预约挂号 / 我的预约 / 更多."""
    api.call(lambda: api.menu.create(MENU))
