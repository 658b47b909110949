"""The floor of the release rush: the least any webhook that keeps SPEC's promises does per message, and no more.

``bench/rush.py`` serves it (gunicorn ``floor:floor_app()``) under the same gunicorn and wrk as the bare Flask echo
and guahao, with the same signed requests, so its ratio to the echo is the ceiling of any design built from these
parts, whatever its dialog does. Per message it does only what the contract cannot drop:

- WeChat in safe mode: the URL signature and the message signature checked, the message decrypted and parsed
  (wechatpy), the passive reply rendered and encrypted (wechatpy); SMS: Twilio's signature checked
  (``RequestValidator``), the form read, TwiML written;
- the user found by a keyed hash of the openid or phone (no personal data in Redis keys);
- one Redis script to begin (claim the delivery: retries once; take the user's lock; count the message for the rate
  limit; load the session) and one to end (save the session, store the reply for a retry, release the lock): the
  engine's two round trips;
- the session sealed at rest (AES-GCM through ``SecretBox``) both ways.

Its dialog is one fixed reply (the menu's length): no rules, no schedule, no booking. guahao's conversation needs
more than this floor by nature (the schedule read, the booking script, the patients' records).

``bare_floor_app()`` is lower still: the echo plus only the two scripts and the sealed session (no signature, no
safe-mode crypto, no message parsed: the user is a hash of the body), to show what the Redis round trips alone cost.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from html import escape
from typing import Any

import redis
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.crypto import SecretBox

REPLY = (
    "您好，这里是第一医院预约挂号。请回复数字：\n1 预约挂号\n2 我的预约\n3 取消预约\n4 候补\n5 改约\n6 就诊人\n0 帮助"
)

BEGIN = """
if redis.call('SET', KEYS[4], 'pending', 'NX', 'EX', ARGV[3]) == false then
  return {'seen', redis.call('GET', KEYS[4])}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) == false then return {'locked'} end
local sent = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 120)
return {'ok', redis.call('HGETALL', KEYS[2]), sent}
"""

END = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class Floor:
    """The per-message minimum over one Redis."""

    def __init__(self, redis_url: str, secret: str, token: str, aes_key: str, app_id: str, twilio_token: str) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.begin = self.redis.register_script(BEGIN)
        self.end = self.redis.register_script(END)
        self.box = SecretBox(secret)
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id)
        self.twilio = RequestValidator(twilio_token)
        self.hash_key = hashlib.sha256(secret.encode()).digest()

    def step(self, channel: str, user: str, message_id: str) -> str:
        """Begin, the fixed reply, end: the reply ("" for a retry of a delivery already answered)."""
        acct = hmac.new(self.hash_key, f"{channel}:{user}".encode(), hashlib.sha256).hexdigest()[:32]
        minute = int(time.time() // 60)
        token = os.urandom(8).hex()
        held = [f"floor:lock:{acct}", f"floor:session:{acct}", f"floor:rate:{acct}:{minute}"]
        held.append(f"floor:seen:{channel}:{acct}:{message_id}")
        status: Any = self.begin(keys=held, args=[token, 30000, 600])
        if status[0] != b"ok":
            return ""
        raw = dict(zip(status[1][::2], status[1][1::2], strict=True))
        session = self.box.decrypt_json(raw[b"data"].decode(), context=acct) if b"data" in raw else {"turns": 0}
        session["turns"] += 1
        sealed_session = self.box.encrypt_json(session, context=acct)
        sealed_reply = self.box.encrypt(REPLY, context=f"reply:{acct}")
        self.end(keys=held[:2] + held[3:], args=[token, 86400, sealed_reply, 600, "data", sealed_session])
        return REPLY


def _floor() -> Floor:
    """The floor over ``GUAHAO_FLOOR`` (``redis_url|secret|token|aes_key|app_id|twilio_token``)."""
    redis_url, secret, token, aes_key, app_id, twilio_token = os.environ["GUAHAO_FLOOR"].split("|")
    return Floor(redis_url, secret, token, aes_key, app_id, twilio_token)


def bare_floor_app() -> Flask:
    """The echo plus the two scripts and the sealed session, nothing else."""
    floor = _floor()
    app = Flask("bare-floor")

    @app.post("/<path:path>")
    def echo(path: str) -> Response:
        body = request.get_data()
        user = hashlib.sha1(body).hexdigest()  # each request a message of its own
        floor.step("bare", user, user)
        return Response(body, mimetype="application/xml")

    return app


def floor_app() -> Flask:
    """The floor as a Flask app (WeChat safe mode and Twilio, as guahao serves them)."""
    floor = _floor()
    public_url = os.environ["GUAHAO_FLOOR_URL"]
    app = Flask("floor")

    @app.post("/wechat")
    def wechat() -> Response:
        args = request.args
        ts, nonce = args["timestamp"], args["nonce"]
        check_signature(floor.token, args["signature"], ts, nonce)
        xml = floor.crypto.decrypt_message(request.get_data(), args["msg_signature"], ts, nonce)
        message = parse_message(xml)
        reply = floor.step("wechat", message.source, str(message.id))
        if not reply:
            return Response("success", mimetype="text/plain")
        rendered = TextReply(message=message, content=reply).render()
        return Response(floor.crypto.encrypt_message(rendered, nonce, ts), mimetype="application/xml")

    @app.post("/sms/twilio")
    def sms() -> Response:
        form = request.form
        if not floor.twilio.validate(public_url + "/sms/twilio", form, request.headers["X-Twilio-Signature"]):
            return Response("forged", status=403)
        reply = floor.step("sms", form["From"], form["MessageSid"])
        twiml = f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response />"
        return Response('<?xml version="1.0" encoding="UTF-8"?>' + twiml, mimetype="application/xml")

    return app
