"""Texts of the notifications pushed about an appointment (confirmation, reminders, broadcasts, hospital
cancellations): key -> (中文, English).

``{visit}`` is the appointment's day and time as the chat shows it (:func:`texts.format.visit`), ``{refund}`` and
``{deadline}`` come from :mod:`texts.format` too. ``{message}`` is the hospital's own words (never masked).
"""

TEXTS: dict[str, tuple[str, str]] = {
    "notice.confirmation": (
        "【预约成功】{patient} {visit}\n{place} {department} {doctor}\n就诊序号 {queue},识别码 {serial}。\n{deadline}",
        "[Booked] {patient}, {visit}\n{place}, {department}, {doctor}\nQueue no. {queue}, serial {serial}.\n{deadline}",
    ),
    "notice.deadline": ("如需取消,请在 {deadline} 前取消。", "To cancel, do so before {deadline}."),
    "notice.deadline_passed": (
        "已过取消截止时间({deadline}),不能在线取消。",
        "The cancellation deadline ({deadline}) has passed: it cannot be cancelled online.",
    ),
    "notice.deadline_passed_violation": (
        "已过免费取消时间({deadline}),如取消将记违约1次。",
        "The free cancellation deadline ({deadline}) has passed: cancelling counts as one violation.",
    ),
    "notice.window_end": (
        "【取消提醒】{patient} {visit_start} {place} {department} 的预约(识别码 {serial})将于 {deadline} "
        "截止免费取消。如不能就诊,请在此之前取消。",
        "[Reminder] Free cancellation of {patient}'s appointment on {visit_start} at {place}, {department} "
        "(serial {serial}) ends at {deadline}. Cannot come? Cancel before then.",
    ),
    "notice.day_before": (
        "【就诊提醒】{patient} 明天 {visit} 就诊:{place} {department} {doctor},就诊序号 {queue}。"
        "请携带身份证,于 {checkin} 前凭识别码 {serial} 取号。",
        "[Reminder] {patient} has an appointment tomorrow, {visit}: {place}, {department}, {doctor}, "
        "queue no. {queue}. Bring the ID card and check in with serial {serial} before {checkin}.",
    ),
    "notice.before_start": (
        "【就诊提醒】{patient} 今天 {start} 就诊:{place} {department},就诊序号 {queue}。"
        "请于 {checkin} 前凭识别码 {serial} 取号。",
        "[Reminder] {patient}'s appointment starts at {start} today: {place}, {department}, queue no. {queue}. "
        "Check in with serial {serial} before {checkin}.",
    ),
    # a broadcast and a 停诊 go out as one SMS too (SPEC §5: two segments): the hospital's words (at most
    # bot.broadcast_request.MAX_TEXT characters) and only what tells which appointment it is about
    "notice.broadcast": (
        "【{hospital}】{message}\n(您{visit_start}的预约,识别码{serial})",
        "[{hospital}] {message}\n(appt {serial}, {visit_start})",
    ),
    "notice.no_show": (
        "【爽约记录】{patient} {visit_start} {department} 的预约(识别码 {serial})未取号,已记爽约,今年第{count}次。"
        "{consequence}如有异议,请联系医院。",
        "[No-show] {patient} {visit_start} {department} (serial {serial}) missed: no-show {count} this year. "
        "{consequence}",
    ),
    "notice.no_show_suspended": ("预约已暂停至{until}。", "Booking is suspended until {until}."),
    "notice.no_show_next": (
        "今年满{tier}次将暂停预约{months}个月。",
        "At {tier}, booking is suspended {months} months.",
    ),
    "notice.no_show_next_month": (
        "一个月内满{tier}次将暂停预约{months}个月。",
        "{tier} in a month: booking suspended {months} months.",
    ),
    "notice.cancellation": (
        "【停诊通知】{message}\n您{visit_start}的预约(识别码{serial})已由医院取消,挂号费{refund}可全额退,不计爽约。",
        "[Cancelled] {message}\n{serial}, {visit_start}: fee {refund} refundable, no no-show",
    ),
}
