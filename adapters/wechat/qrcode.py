"""A department's QR code (``guahao wechat-qrcode``): a permanent code of the official account whose scene is
``dept:<hospital>:<department>`` (``adapters.wechat.events``), created through the WeChat API with wechatpy's
client (``qrcode/create``, ``QR_LIMIT_STR_SCENE``); its picture is fetched from WeChat's ``showqrcode`` by ticket.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from adapters.wechat.events import MAX_SCENE, department_scene
from adapters.wechat.push import HTTP_TIMEOUT_S, WeChatApi
from bot.config import Config, WeChatConfig
from bot.errors import GuahaoError

DEFAULT_API = "https://api.weixin.qq.com/cgi-bin/"
SHOW_URL = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={ticket}"


class QrCodeError(GuahaoError):
    """The department cannot have a code (unknown, ambiguous, scene too long): the message says why."""


def department_of(config: Config, department: str, hospital: str | None) -> tuple[str, str]:
    """The (hospital, department) meant: ``--hospital`` if given, else the one hospital with that department."""
    found = [h for h in config.hospitals if (hospital is None or h.id == hospital) and h.department(department)]
    if hospital is not None and config.hospital(hospital) is None:
        raise QrCodeError(f"unknown hospital {hospital!r}")
    if not found:
        raise QrCodeError(f"no department {department!r}" + (f" in hospital {hospital}" if hospital else ""))
    if len(found) > 1:
        ids = ", ".join(h.id for h in found)
        raise QrCodeError(f"department {department!r} is in several hospitals ({ids}): add --hospital")
    return found[0].id, department


def scene_of(hospital: str, department: str) -> str:
    """The department's scene key, refused when WeChat cannot take it (over 64 characters)."""
    scene = department_scene(hospital, department)
    if len(scene) > MAX_SCENE:
        raise QrCodeError(f"scene {scene!r} is {len(scene)} characters; WeChat takes at most {MAX_SCENE}")
    return scene


def create_qrcode(api: WeChatApi, scene: str) -> dict[str, Any]:
    """Create the permanent code of ``scene``: WeChat's answer (``ticket``, ``url`` = what the code opens)."""
    data = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
    answer: dict[str, Any] = api.call(lambda: api.qrcode.create(data))
    return answer


def image_url(config: WeChatConfig, ticket: str) -> str:
    """Where the code's picture is: WeChat's ``showqrcode``, or beside ``api_base_url`` when that is a proxy."""
    if config.api_base_url.rstrip("/") == DEFAULT_API.rstrip("/"):
        return SHOW_URL.format(ticket=quote(ticket))
    return config.api_base_url.rstrip("/") + "/showqrcode?ticket=" + quote(ticket)


def fetch_image(url: str) -> bytes:
    """The picture at ``url`` (a JPEG from WeChat)."""
    response = requests.get(url, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.content
