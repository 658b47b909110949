"""Texts of the waitlist (候补) and of rescheduling (改约), in the chat and pushed: key -> (中文, English).

``{visit}`` is a day and time as :func:`texts.format.visit` writes it, ``{until}``/``{deadline}`` a moment as
:func:`texts.format.moment` writes it, money as :func:`texts.format.money`. The bot never asks for a bare CANCEL.
"""

TEXTS: dict[str, tuple[str, str]] = {
    # --- joining ------------------------------------------------------------------------------------------------
    "waitlist.join_again": (
        "没看懂“{text}”。回复 1 或「候补」加入候补,2 选其他时段。",
        '"{text}" is not an answer here. Reply 1 or WAIT to join the waitlist, 2 for another slot.',
    ),
    "waitlist.slot_full": (
        "{doctor} {start} 的号已约满。可加入候补:有人退号时按候补顺序为您保留名额并通知您。\n"
        "回复 1 或「候补」加入候补,2 选其他时段。",
        "{doctor} {start} is full. Join its waitlist: a freed place is held for those waiting, in order, "
        "and you are told.\nReply 1 or WAIT to join, 2 for another slot.",
    ),
    "waitlist.day_full": (
        "{day}{department}的号已全部约满,可选择一个时段加入候补。",
        "{department} is fully booked on {day}: choose a slot to join its waitlist.",
    ),
    "waitlist.joined": (
        "已加入候补:{patient} {visit} {department} {doctor},排第{position}位。有空位时通知您,请在保留时间内回复 Y "
        "确认。候补截止 {ends}。",
        "On the waitlist: {patient}, {visit}, {department}, {doctor}, number {position}. When a place frees up "
        "you are told; reply Y in time to book it. Waiting ends {ends}.",
    ),
    "waitlist.declined": ("未加入候补。", "Not on the waitlist."),
    "waitlist.available": (
        "该时段刚有空位,可直接预约。",
        "A place just freed up in this slot: you can book it directly.",
    ),
    "waitlist.refused_waitlist_max": (
        "每位就诊人最多同时候补{n}个时段。请先退出一个(回复「我的候补」查看)。",
        "A patient may wait for at most {n} slots at once. Leave one first (send WAIT to see them).",
    ),
    "waitlist.refused_waitlist_already": ("您已在该时段的候补中。", "You are already on this slot's waitlist."),
    "waitlist.refused_waitlist_closed": (
        "该时段的候补已于 {deadline} 截止。",
        "Waiting for this slot ended at {deadline}.",
    ),
    # --- listing and leaving --------------------------------------------------------------------------------------
    "waitlist.header": ("您的候补({count}个):", "Your waitlist ({count}):"),
    "waitlist.none": ("您目前没有候补。", "You are not waiting for any slot."),
    "waitlist.item": (
        "{n}. {patient} {visit} {department} {doctor} {status}",
        "{n}. {patient} {visit} {department} {doctor} {status}",
    ),
    "waitlist.status_waiting": ("排第{position}位", "number {position}"),
    "waitlist.status_offered": ("已为您保留至{until},回复 Y 确认", "held for you until {until}: reply Y"),
    "waitlist.leave_hint": ("退出候补请回复「退出候补 序号」", "To leave one, send LEAVE and its number"),
    "waitlist.left": ("已退出候补:{visit} {department}。", "Left the waitlist: {visit}, {department}."),
    "waitlist.leave_unknown": (
        "没有第{n}个候补。回复「我的候补」查看。",
        "There is no waitlist entry {n}. Send WAIT to see them.",
    ),
    # --- claiming ---------------------------------------------------------------------------------------------
    "waitlist.claimed": ("候补成功!", "Booked from the waitlist!"),
    "waitlist.offer_expired": (
        "抱歉,为您保留的名额已过期,已让给下一位候补者。",
        "Sorry, the place held for you has lapsed and went to the next person waiting.",
    ),
    "waitlist.offer_recalled": ("另有候补名额:{item}", "Also a waitlist place: {item}"),
    "waitlist.offer_still_held": (
        "候补名额:{item}。不需要请回复「退出候补 {n}」让给下一位。",
        "Waitlist place: {item}. If you do not want it, send LEAVE {n} to pass it on.",
    ),
    "waitlist.claim_passed": ("该名额已让给下一位候补者。", "The place went to the next person waiting."),
    # --- pushed -------------------------------------------------------------------------------------------------
    "notice.offer": (
        "【候补有号】{patient} 候补的 {visit} {hospital} {department} {doctor} 有空位,为您保留至 {until}。"
        "回复 Y 确认预约,逾时让给下一位。",
        "[Waitlist] A place is free for {patient}: {visit}, {hospital}, {department}, {doctor}. Held until "
        "{until}. Reply Y to book it; after that it goes to the next person.",
    ),
    # a waiter passed over at an offer (bot.waitlist_push.SKIP_REASONS: which rule, in words)
    "notice.waitlist_skipped_same_day": (
        "【候补未成功】{patient} 候补的 {visit} {hospital} {department} {doctor} 有空位,但该就诊人同日已有预约,"
        "按预约规则不能再约,名额已让出,本候补已结束。",
        "[Waitlist] A place came up: {visit}, {hospital}, {department}, {doctor}, but {patient} already has an "
        "appointment that day and the booking rules allow no other, so it was passed on and this wait has ended.",
    ),
    "notice.waitlist_skipped_recent": (
        "【候补未成功】{patient} 候补的 {visit} {hospital} {department} {doctor} 有空位,但该就诊人近期预约次数已达"
        "上限,名额已让出,本候补已结束。",
        "[Waitlist] A place came up: {visit}, {hospital}, {department}, {doctor}, but {patient} has made as many "
        "bookings lately as the rules allow, so it was passed on and this wait has ended.",
    ),
    "notice.waitlist_skipped_suspended": (
        "【候补未成功】{patient} 候补的 {visit} {hospital} {department} {doctor} 有空位,但该就诊人的预约已被暂停,"
        "名额已让出,本候补已结束。",
        "[Waitlist] A place came up: {visit}, {hospital}, {department}, {doctor}, but booking is suspended for "
        "{patient}, so it was passed on and this wait has ended.",
    ),
    "notice.waitlist_skipped": (
        "【候补未成功】{patient} 候补的 {visit} {hospital} {department} {doctor} 有空位,但按预约规则现在不能为该就诊人"
        "预约,名额已让出,本候补已结束。",
        "[Waitlist] A place came up: {visit}, {hospital}, {department}, {doctor}, but the booking rules no longer "
        "allow {patient} to book it, so it was passed on and this wait has ended.",
    ),
    "notice.rescheduled": (
        "【改约成功】{patient} {visit}\n{place} {department} {doctor}\n就诊序号 {queue},新识别码 {serial}"
        "(原 {old} 已释放)。\n{deadline}",
        "[Rescheduled] {patient}, {visit}\n{place}, {department}, {doctor}\nQueue no. {queue}, new serial {serial} "
        "(old {old} released).\n{deadline}",
    ),
    # --- rescheduling -------------------------------------------------------------------------------------------
    "reschedule.choose": ("请选择要改约的预约:", "Which appointment do you want to reschedule?"),
    "reschedule.none": ("您目前没有可改约的预约。", "You have no appointment to reschedule."),
    "reschedule.option": (
        "{visit} {department} {patient} 识别码{serial}",
        "{visit} {department} {patient} serial {serial}",
    ),
    "reschedule.current": (
        "改约 {serial}:{patient} {visit} {department} {doctor}。",
        "Rescheduling {serial}: {patient}, {visit}, {department}, {doctor}.",
    ),
    "reschedule.confirm": (
        "请确认改约:\n原:{old}\n新:{new} {doctor} {level} {fee}\n{difference}\n回复 Y 确认改约,N 保留原预约。",
        "Please confirm the move:\nFrom: {old}\nTo: {new} {doctor} {level} {fee}\n{difference}\n"
        "Reply Y to move it, N to keep the old one.",
    ),
    "reschedule.fee_same": ("挂号费不变。", "The fee stays the same."),
    "reschedule.fee_more": ("需补挂号费差额 {amount}。", "You pay the difference: {amount}."),
    "reschedule.fee_less": ("按医院规则退还差额 {amount}。", "Under the hospital's rules {amount} is refunded."),
    "reschedule.done": (
        "改约成功!新识别码 {serial},{visit},{place} {department} {doctor},就诊序号 {queue}。原预约 {old} 已释放。",
        "Rescheduled! New serial {serial}, {visit}, {place}, {department}, {doctor}, queue no. {queue}. "
        "The old appointment {old} is released.",
    ),
    "reschedule.too_late": (
        "预约 {serial} 已过 {deadline} 的改约截止时间,不能改约。",
        "Appointment {serial} can no longer be moved: the deadline was {deadline}.",
    ),
    "reschedule.day_full": (
        "{day}的号已全部约满,请选择其他日期。",
        "Every time on {day} is fully booked: choose another date.",
    ),
    "reschedule.same_slot": ("这就是当前预约的时段,请选其他时段。", "That is the current slot: choose another."),
    "reschedule.kept": ("未改约,原预约 {serial} 保留。", "Not moved: appointment {serial} is kept."),
    "reschedule.lost_race": (
        "所选时段刚被约满,原预约 {serial} 保留。请选其他时段。",
        "That slot just filled up; appointment {serial} is kept. Choose another slot.",
    ),
    "reschedule.not_booked": ("预约 {serial} 已不是待就诊状态。", "Appointment {serial} is no longer booked."),
    "appointments.manage": (
        "改约回复「改约 {serial}」,取消回复「取消 {serial}」",
        "Move: send MOVE {serial}; cancel: send CANCEL {serial}",
    ),
    "appointments.manage_late": (
        "已过取消截止时间{deadline},不能改约;取消回复「取消 {serial}」,将计1次爽约",
        "Past the cancellation deadline ({deadline}): no moves; to cancel send CANCEL {serial} (counted as a no-show)",
    ),
    "appointments.manage_closed": (
        "已过取消截止时间{deadline},不能在线改约或取消;如不能就诊,请联系医院",
        "Past the cancellation deadline ({deadline}): it can no longer be moved or cancelled online; "
        "if you cannot come, contact the hospital",
    ),
    "appointments.manage_sms": ("改约/取消:回复「改约 识别码」/「取消 识别码」", "Send MOVE or CANCEL and the serial"),
}
