"""Texts of the calendar link and of the calendar file of an appointment (``/calendar/<token>.ics``):
key -> (中文, English). The link line stays short: it rides in the SMS confirmation (2 segments)."""

TEXTS: dict[str, tuple[str, str]] = {
    "ics.link": ("日历:{url}", "Calendar: {url}"),
    "ics.summary": ("就诊:{department} {doctor}", "Visit: {department}, {doctor}"),
    "ics.summary_cancelled": ("已取消:{department} {doctor}", "Cancelled: {department}, {doctor}"),
    "ics.description": (
        "就诊人 {patient},识别码 {serial},就诊序号 {queue}。\n{hospital} {department} {doctor}\n"
        "请携带身份证,于 {checkin} 前凭识别码取号。",
        "Patient {patient}, serial {serial}, queue no. {queue}.\n{hospital}, {department}, {doctor}\n"
        "Bring the ID card and check in with the serial before {checkin}.",
    ),
    "ics.description_cancelled": (
        "此预约(识别码 {serial})已取消。",
        "This appointment (serial {serial}) was cancelled.",
    ),
    "ics.alarm_window_end": ("{deadline} 前可免费取消预约", "Free cancellation ends at {deadline}"),
    "ics.alarm_day_before": ("明天 {start} 就诊:{department}", "Tomorrow at {start}: {department}"),
    "ics.alarm_before_start": ("{start} 就诊:{department},请按时取号", "{start}: {department}, check in on time"),
}
