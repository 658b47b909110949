"""Texts of appointments, cancellation, patients and standing: key -> (中文, English).

Kept short for SMS: one paragraph stays within two segments (≈134 Chinese characters). Never ask for a bare
CANCEL/END/QUIT (carrier opt-out words, SPEC §5): cancellation is confirmed with Y/N.
"""

TEXTS: dict[str, tuple[str, str]] = {
    # --- statuses (dates and money are written by texts.format) ------------------------------------------
    "appointments.status.booked": ("已预约", "booked"),
    "appointments.status.cancelled": ("已取消", "cancelled"),
    "appointments.status.cancelled_late": ("已取消(逾期)", "cancelled late"),
    "appointments.status.cancelled_by_hospital": ("医院已停诊取消", "cancelled by the hospital"),
    "appointments.status.attended": ("已就诊", "attended"),
    "appointments.status.no_show": ("爽约", "missed (no-show)"),
    "appointments.status.no_show_waived": ("爽约已豁免", "no-show waived"),
    # --- 我的预约 ----------------------------------------------------------------------------------------------
    "appointments.header": ("您有{count}个待就诊预约:", "You have {count} upcoming appointment(s):"),
    "appointments.none": ("您目前没有待就诊的预约。", "You have no upcoming appointments."),
    "appointments.item": (
        "识别码{serial} {patient} {visit}\n{hospital} {department} {doctor} 第{queue}号 {status}",
        "Serial {serial} {patient} {visit}\n{hospital} {department} {doctor} No. {queue} {status}",
    ),
    "appointments.lottery_header": ("待抽签({count}个):", "Awaiting the draw ({count}):"),
    "appointments.lottery_item": (
        "{patient} {visit} {department} {doctor},{results} 后公布结果",
        "{patient} {visit} {department} {doctor}: result after {results}",
    ),
    "appointments.lottery_item_drawing": (
        "{patient} {visit} {department} {doctor},正在抽签,结果稍后通知您",
        "{patient} {visit} {department} {doctor}: being drawn now, you will be told the result shortly",
    ),
    "appointments.standing": ("{patient}:本年度爽约{count}次", "{patient}: {count} no-show(s) this year"),
    "appointments.suspended_no_show": (
        ",因爽约暂停预约,{until}起可再预约",
        "; booking suspended for no-shows, possible again from {until}",
    ),
    "appointments.suspended_flagged": (
        ",暂停预约,{until}起可再预约",
        "; booking suspended, possible again from {until}",
    ),
    # --- 取消预约 ----------------------------------------------------------------------------------------------
    "cancel.none": ("您目前没有可取消的预约。", "You have no appointment to cancel."),
    "cancel.choose": (
        "请选择要取消的预约(回复序号或8位识别码):",
        "Which appointment do you want to cancel? Reply with its number or its 8-digit serial:",
    ),
    "cancel.option": (
        "{visit} {department} {patient} {serial}",
        "{visit} {department} {patient} {serial}",
    ),
    "cancel.not_found": (
        "没有找到识别码为{serial}的预约,请核对8位识别码。",
        "No appointment of yours has the serial {serial}; please check the 8 digits.",
    ),
    "cancel.not_booked": (
        "预约{serial}当前状态为“{status}”,无需取消。",
        "Appointment {serial} is {status}; there is nothing to cancel.",
    ),
    "cancel.summary": (
        "取消预约{serial}:{patient} {visit} {hospital} {department}",
        "Cancel {serial}: {patient} {visit} {hospital} {department}",
    ),
    # what the hospital's rules give back — never a payment channel: nothing is charged through this service
    "cancel.refund_full": ("按医院规则可退{refund}", "per rules, {refund} refundable"),
    "cancel.refund_expert": (
        "按医院规则可退{refund}(专家号距就诊不足{hours}小时扣{percent}%)",
        "per rules, {refund} refundable (expert visit less than {hours} h away: {percent}% deducted)",
    ),
    "cancel.refund_special": (
        "按医院规则可退{refund}(特需号距就诊不足{days}天,退{percent}%)",
        "per rules, {refund} refundable (special-needs visit less than {days} days away: {percent}% refunded)",
    ),
    "cancel.terms_timely": ("现在取消:{refund}。", "Cancel now: {refund}."),
    "cancel.terms_late": (
        "已过取消截止时间{deadline},现在取消将计1次爽约(违约);{refund}。",
        "The deadline ({deadline}) has passed: cancelling now counts as one no-show (a violation); {refund}.",
    ),
    "cancel.ask_confirm": ("回复 Y 确认取消, N 保留", "Reply Y to cancel it, N to keep it"),
    "cancel.too_late": (
        "预约{serial}的取消截止时间为{deadline},已过,无法在线取消。如不能就诊,请联系{hospital}{phone}。",
        "The cancellation deadline of appointment {serial} was {deadline}; it can no longer be cancelled online. "
        "If you cannot come, please contact {hospital}{phone}.",
    ),
    "cancel.started": (
        "预约{serial}的就诊时间已开始,无法取消。如有问题,请联系{hospital}{phone}。",
        "Appointment {serial} has already started and cannot be cancelled. Please contact {hospital}{phone}.",
    ),
    "cancel.hospital_phone": ("(电话{phone})", " (tel. {phone})"),
    "cancel.passed_meanwhile": ("确认期间取消截止时间已过。", "The deadline passed while you were confirming."),
    "cancel.terms_changed": (
        "取消条件已变化,请重新确认。",
        "The terms changed meanwhile; please confirm again.",
    ),
    "cancel.done": (
        "已取消预约{serial}。{refund}。",
        "Appointment {serial} is cancelled; {refund}.",
    ),
    "cancel.done_late": (
        "已取消预约{serial},已计1次爽约。{refund}。",
        "Appointment {serial} is cancelled; one no-show was recorded; {refund}.",
    ),
    "cancel.which_way": (
        "“{text}”可以理解为取消,也可以理解为不取消:回复 Y 确认取消预约{serial},回复 N 保留。",
        '"{text}" can be read both ways: reply Y to cancel appointment {serial}, N to keep it.',
    ),
    "cancel.kept": ("已保留预约{serial}。", "Appointment {serial} is kept."),
}
