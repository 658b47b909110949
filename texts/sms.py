"""Texts the SMS adapter writes itself (opt-out and opt-in answers): key -> (中文, English).

Never teach a Twilio opt-out keyword as a way to stop: "STOP" would block codes and confirmations too.
"""

TEXTS: dict[str, tuple[str, str]] = {
    "sms.opted_out": (
        "已退订提醒短信,回复 订阅 可恢复。",
        "Reminder texts are off. Reply START to turn them back on.",
    ),
    "sms.opted_out_twilio": (
        "已退订提醒短信,回复 START 可恢复。",
        "Reminder texts are off. Reply START to turn them back on.",
    ),
    "sms.opted_in": (
        "已恢复提醒短信,回复 TD 可退订。",
        "Reminder texts are back on. Reply TD to turn them off.",
    ),
}
