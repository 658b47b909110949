"""The words of the mainland SMS templates (短信模板, SPEC §9) as a hospital files them for approval with Aliyun or
Tencent Cloud, and the small words their variables are written with: key -> (中文, English).

``${name}`` is a template variable in Aliyun's notation; Tencent Cloud numbers the same variables ``{1}``, ``{2}``…
in the order they first appear (``adapters.sms.templates`` derives both forms, and the variables' order, from these
words). No two variables touch (the providers refuse adjacent variables), no ``【】`` (the signature's brackets),
no link. Every variable is filled from the structured notice, never from a notice's free text; a broadcast's own
words are not sent over these providers (they may be long and unreviewable): the template says there is a notice
about the appointment and where to read it. The English texts are the same templates for an English signature.
"""

TEXTS: dict[str, tuple[str, str]] = {
    "sms_template.otp": (
        "您的验证码为${code},${minutes}分钟内有效。如非本人操作,请忽略本短信。",
        "Your verification code is ${code}, valid for ${minutes} minutes. Ignore this text if you did not ask for it.",
    ),
    "sms_template.confirmation": (
        "${patient}预约成功:${date} ${time},${hospital} ${department},就诊序号${queue},识别码${serial}。"
        "如需取消,请在${deadline}前回复 取消+识别码。",
        "${patient} is booked: ${date} ${time}, ${hospital} ${department}, queue no. ${queue}, serial ${serial}. "
        "To cancel, reply CANCEL and the serial before ${deadline}.",
    ),
    "sms_template.reminder": (
        "就诊提醒:${patient} ${date} ${time}在${hospital} ${department}就诊,就诊序号${queue}。"
        "请于${checkin}前凭识别码${serial}取号。回复TD退订提醒。",
        "Reminder: ${patient}, ${date} ${time} at ${hospital} ${department}, queue no. ${queue}. "
        "Check in with serial ${serial} before ${checkin}. Reply TD to stop reminders.",
    ),
    "sms_template.cancellation": (
        "停诊通知:${patient} ${date} ${department}的预约(识别码${serial})已由医院取消,挂号费${refund}全额退还,不计爽约。",
        "Clinic suspended: ${patient}'s appointment on ${date}, ${department} (serial ${serial}) was cancelled by "
        "the hospital; the fee of ${refund} is refunded in full and it never counts as a no-show.",
    ),
    "sms_template.broadcast": (
        "医院通知:您${date} ${department}的预约(识别码${serial})有一条医院通知,详情请致电${contact}或查看医院微信公众号。",
        "Hospital notice about your appointment on ${date}, ${department} (serial ${serial}): please call "
        "${contact} or read it on the hospital's WeChat account.",
    ),
    "sms_template.offer": (
        "候补到号:${date} ${time} ${department}有号,为您保留至${deadline}。回复Y确认预约,逾期将让给下一位。",
        "A place came up: ${date} ${time}, ${department}, held for you until ${deadline}. Reply Y to book it; "
        "after that it goes to the next person waiting.",
    ),
    "sms_template.rescheduled": (
        "${patient}改约成功:${date} ${time},${hospital} ${department},就诊序号${queue},新识别码${serial}。",
        "${patient} is rescheduled: ${date} ${time}, ${hospital} ${department}, queue no. ${queue}, "
        "new serial ${serial}.",
    ),
    "sms_template.lottery": (
        "放号抽签结果:${patient} ${date} ${department},${result}。回复 查询 看您的预约。",
        "Draw result: ${patient}, ${date}, ${department}: ${result}. Reply LIST to see your appointments.",
    ),
    "sms_template.no_show": (
        "爽约记录:${patient} ${date} ${department}的预约(识别码${serial})未取号,已记爽约,今年第${count}次。如有异议请联系医院。",
        "No-show: ${patient}'s appointment on ${date}, ${department} (serial ${serial}) was missed; no-show "
        "${count} this year. Contact the hospital if this is wrong.",
    ),
    "sms_template.waitlist_skipped": (
        "候补未成功:${patient}候补的${date} ${time} ${department}有空位,但按预约规则现在不能为其预约(如同日已有预约),"
        "名额已让出,候补已结束。",
        "Waitlist: a place came up for ${patient}, ${date} ${time}, ${department}, but the booking rules do not allow "
        "it now (say, one that day already), so it was passed on and the wait has ended.",
    ),
    "sms_template.reply_short": (
        "${reply}(短信仅显示摘要,回复 帮助 查看指令,完整内容请查看医院微信公众号)",
        "${reply} (a summary; reply HELP for the commands, or read it in full on the hospital's WeChat account)",
    ),
    # the words variables are written with
    "sms_value.date": ("{month}月{day}日", "{month}/{day}"),
    "sms_value.moment": ("{month}月{day}日{clock}", "{month}/{day} {clock}"),
    "sms_value.refund": ("{yuan}元", "CNY {yuan}"),
    "sms_value.booked": ("已约到", "booked"),
    "sms_value.not_drawn": ("未约到", "not drawn"),
    "sms_value.waitlist": ("未约到,回复候补排队", "not drawn; reply WAIT"),
}
