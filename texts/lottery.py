"""Texts of the release lottery (SPEC §8 "Release rush", RULES §12): the registration reply in the booking dialog,
the refusals of anti-scalping, and the outcome pushed to every registrant (outbox kind ``lottery``): key ->
(中文, English). Both languages of a key take the same placeholders; each fits two SMS segments.
"""

TEXTS: dict[str, tuple[str, str]] = {
    # --- in the booking dialog -------------------------------------------------------------------------------------
    "book.lottery_registered": (
        "已登记抽签:{patient} {visit} {doctor}。{day}的号源在放号后{seconds}秒内按抽签分配,{results} 抽签后通知您结果,每位就诊人最多得一个号。",
        "Entered in the draw: {patient}, {visit}, {doctor}. Places of {day} asked for in the {seconds} s after release "
        "are drawn at random; you will hear the result after {results}. One place per patient.",
    ),
    "book.lottery_already": (
        "{patient} 已登记过这个时段的抽签,{results} 抽签后通知您结果。",
        "{patient} is already entered in the draw for this time; you will hear the result after {results}.",
    ),
    "book.refused_lottery_account_limit": (
        "本账号在这次放号抽签中登记的就诊人已达上限,不能再登记。",
        "This account has entered as many patients as allowed into this draw; no more can be entered.",
    ),
    "book.refused_lottery_phone_limit": (
        "同一手机号的就诊人在这次放号抽签中登记已达上限,不能再登记。",
        "As many patients with this phone number as allowed are in this draw already; no more can be entered.",
    ),
    # --- the outcome, pushed ---------------------------------------------------------------------------------------
    "notice.lottery_won": (
        "【抽签结果】已为 {patient} 抽中:{visit}\n{place} {department} {doctor}\n就诊序号 {queue},识别码 {serial}。\n如需取消,请在 {deadline} 前取消。",
        "[Draw result] {patient} got a place: {visit}\n{place}, {department}, {doctor}\nQueue no. {queue}, "
        "serial {serial}.\nTo cancel, do so before {deadline}.",
    ),
    "notice.lottery_not_drawn": (
        "【抽签结果】很遗憾,{hospital} {day} 的放号抽签未抽中(抽签顺序第{position}位)。如有剩余号源,可照常预约。",
        "[Draw result] Sorry, no place for you in the draw for {hospital} on {day} (drawn no. {position}). "
        "Places left, if any, can be booked as usual.",
    ),
    "notice.lottery_invite": (
        "回复 候补 加入该时段的候补(截止 {deadline}):有人取消时按候补顺序为您保留名额。",
        "Reply WAIT to join the waitlist of this slot (until {deadline}): a place freed by a cancellation is held "
        "for those waiting, in order.",
    ),
    # --- the reply to the invitation (候补 / WAIT) ------------------------------------------------------------------
    "lottery.invite_lapsed": (
        "{visit} {department} 的候补邀请已于 {deadline} 截止,不能再加入。可回复 预约 查看其他号源。",
        "The invitation to wait for {visit}, {department} ended at {deadline}; it can no longer be joined. "
        "Send BOOK to see other places.",
    ),
    "lottery.invite_available": (
        "{visit} {department} 现在有号,不必候补,可直接预约。",
        "{visit}, {department} has a place now: no need to wait, it can be booked.",
    ),
    "notice.lottery_refused": (
        "【抽签结果】{hospital} {day} 的放号抽签:轮到您时,预约规则不允许再预约(如同日已有预约),未分配号源。",
        "[Draw result] Draw for {hospital} on {day}: when your turn came the booking rules allowed no more "
        "bookings (say, one that day already), so no place was given.",
    ),
    "notice.lottery_flagged": (
        "【抽签结果】{hospital} {day} 的放号抽签:该就诊人的预约权限已被医院暂停,未参加抽签。",
        "[Draw result] Draw for {hospital} on {day}: this patient's booking rights are withdrawn by the hospital, "
        "so they were not entered.",
    ),
    "notice.lottery_lottery_account_limit": (
        "【抽签结果】{hospital} {day} 的放号抽签:同一账号登记的就诊人超过上限,未参加抽签。",
        "[Draw result] Draw for {hospital} on {day}: this account entered more patients than allowed, "
        "so this one was not entered.",
    ),
    "notice.lottery_lottery_phone_limit": (
        "【抽签结果】{hospital} {day} 的放号抽签:同一手机号登记的就诊人超过上限,未参加抽签。",
        "[Draw result] Draw for {hospital} on {day}: more patients with this phone number than allowed were "
        "entered, so this one was not.",
    ),
}
