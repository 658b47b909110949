"""WeChat events a hospital relies on, beyond messages and menu clicks (the webhook hands each event here first).

- ``TEMPLATESENDJOBFINISH``: the delivery report of a template message (``success``, ``failed:user block``,
  ``failed: system failed``), recorded by ``msgid`` like Twilio's status callbacks
  (:class:`bot.notifications.push_reports.PushReports`); a failure of a notification we pushed queues its SMS
  fallback (job ``bot.jobs.push_fallback``, sent once: SPEC §5), off the request.
- ``SCAN`` (a follower scans a QR code) and ``subscribe`` through one (``EventKey`` ``qrscene_<scene>``): the scene
  of a department's code, ``dept:<hospital>:<department>`` (printed at the hospital, made by
  ``guahao wechat-qrcode``), opens booking in that department: the reply asks the next step it does not know.
  Another scene is a plain scan (nothing to say) or a plain follow (the welcome).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from wechatpy.events import ScanEvent, SubscribeScanEvent, TemplateSendJobFinishEvent
from wechatpy.messages import BaseMessage

from bot.config import Config
from bot.notifications.push_reports import PushReports
from bot.reminders import JOB_TIMEOUT_S, RESULT_TTL_S, job_queue
from dialogs.message import Channel, Inbound

log = logging.getLogger(__name__)

SCENE_PREFIX = "dept:"
QR_PREFIX = "qrscene_"
MAX_SCENE = 64
"""WeChat takes a permanent QR code's ``scene_str`` of 1 to 64 characters."""


def department_scene(hospital: str, department: str) -> str:
    """The scene key of a department's QR code."""
    return f"{SCENE_PREFIX}{hospital}:{department}"


def scene_department(config: Config, scene: str) -> tuple[str, str] | None:
    """The (hospital, department) a scene key names, among those configured (ids may hold ``:``: matched whole)."""
    scene = scene.strip()
    scene = scene[len(QR_PREFIX) :] if scene.startswith(QR_PREFIX) else scene
    if not scene.startswith(SCENE_PREFIX):
        return None
    return next(
        ((h.id, d.id) for h in config.hospitals for d in h.departments if department_scene(h.id, d.id) == scene),
        None,
    )


def fallback_queue(redis_client: redis.Redis) -> Callable[[str], None]:
    """Queue the SMS fallback of a failed template message for the worker (one job id per ``msgid``)."""
    queue = job_queue(redis_client)

    def enqueue(msgid: str) -> None:
        queue.enqueue(
            "bot.jobs.push_fallback",
            msgid,
            job_id=f"push-fallback-{msgid}",
            job_timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S,
            description=f"sms fallback of wechat template message {msgid}",
        )

    return enqueue


@dataclass(frozen=True)
class WeChatEvents:
    """The webhook's event hook: what an event is to us, if anything (see :meth:`handle`)."""

    config: Config
    reports: PushReports
    fall_back: Callable[[str], None]

    def handle(self, message: BaseMessage, event_id: str) -> Inbound | str | None:
        """An engine step to take (a department's QR code), an answer (``""``: a delivery report, recorded), or
        None: not an event of ours (the webhook goes on as before)."""
        if isinstance(message, TemplateSendJobFinishEvent):
            self.report(message)
            return ""
        if isinstance(message, ScanEvent | SubscribeScanEvent):
            department = scene_department(self.config, str(message.scene_id or ""))
            if department is None:
                return None
            event = "subscribe" if isinstance(message, SubscribeScanEvent) else "scan"
            return Inbound(Channel.wechat, message.source, "", event_id, event=event, department=department)
        return None

    def report(self, message: TemplateSendJobFinishEvent) -> None:
        """Record a delivery report; a failure of one of our notifications queues its SMS fallback."""
        raw = message._data.get("MsgID")  # wechatpy's typed field raises on a missing id: read it whole
        msgid, status = str(raw or "").strip(), str(message.status or "").strip()
        if not msgid or not status:
            log.info("wechat delivery report without msgid or status: ignored")
            return
        if self.reports.record(msgid, status):
            log.info("wechat template message failed: sms fallback queued", extra={"status": status})
            self.fall_back(msgid)
