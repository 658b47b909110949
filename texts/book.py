"""Texts of booking: key -> (中文, English).

Both languages of a key take the same placeholders. English texts keep to the GSM 7-bit alphabet (¥ is in it;
curly quotes and the ellipsis are not), so an English SMS is not sent as UCS-2. Chinese replies stay within
two SMS segments (134 characters) per paragraph.
"""

TEXTS: dict[str, tuple[str, str]] = {
    # days, times and fees are written by texts.format (texts/calendar.py): {day}, {deadline}, {fee} come ready
    "book.level_general": ("普通", "general"),
    "book.level_expert": ("专家", "expert"),
    "book.level_special": ("特需", "special"),
    "book.period_am": ("上午", "morning"),
    "book.period_pm": ("下午", "afternoon"),
    "book.wish_noted": ("已记下:{wish}。", "Noted: {wish}."),
    # --- questions and options -------------------------------------------------------------------------------
    "book.ask_patient": ("请选择就诊人:", "Who is the appointment for?"),
    "book.patient_label": ("{name}(证件尾号{tail})", "{name} (ID ending {tail})"),
    "book.ask_hospital": ("请选择医院:", "Choose a hospital:"),
    "book.ask_department": ("请选择{hospital}的科室:", "Choose a department of {hospital}:"),
    "book.ask_date": ("请选择{department}的就诊日期:", "Choose a date for {department}:"),
    "book.date_full_label": ("{day} 已满", "{day} (full)"),
    "book.ask_slot": ("{day} {department},请选择时段:", "{day}, {department}: choose a time:"),
    "book.ask_slot_sms": ("{day}时段:", "{day}:"),
    "book.slot_label": (
        "{doctor} {start}-{end} {level} {fee} {places}",
        "{doctor} {start}-{end} {level} {fee} {places}",
    ),
    "book.slot_label_sms": (
        "{doctor} {start}-{end}{level}{fee}{places}",
        "{doctor} {start}-{end} {level} {fee} {places}",
    ),
    "book.places_left": ("余{n}", "{n} left"),
    "book.full": ("已满", "full"),
    # --- confirmation and result -------------------------------------------------------------------------------
    "book.confirm": (
        "请确认预约:\n{patient} {visit}\n{hospital} {department} {doctor} {level} {fee}",
        "Please confirm:\n{patient}, {visit}\n{hospital}, {department}, {doctor}, {level}, {fee}",
    ),
    "book.confirm_reply": ("回复 Y 确认, N 取消", "Reply Y to confirm, N to drop it."),
    "book.done": (
        "预约成功!识别码 {serial},第{queue}号\n{visit}\n{place}\n{department} {doctor} 挂号费{fee}",
        "Booked! Serial {serial}, queue no. {queue}\n{visit}\n{place}\n{department}, {doctor}, fee {fee}",
    ),
    "book.place_with_address": ("{hospital}({address})", "{hospital}, {address}"),
    "book.cancel_until": ("{deadline}前可免费取消。", "Free cancellation until {deadline}."),
    "book.cancel_closed": (
        "已过取消截止时间({deadline}),不能在线取消。",
        "The cancellation deadline ({deadline}) has passed: it cannot be cancelled online.",
    ),
    "book.cancel_with_violation": (
        "已过免费取消时间({deadline}),取消将记违约1次。",
        "The free cancellation deadline ({deadline}) has passed: cancelling counts as one violation.",
    ),
    "book.declined": ("好的,本次未预约。", "OK, nothing was booked."),
    # --- answers that cannot be used -------------------------------------------------------------------------
    "book.nothing_to_book": ("暂无可预约的号源,请稍后再试。", "Nothing can be booked at the moment; please try later."),
    "book.no_departments": (
        "{hospital}近期暂无可预约的号源。",
        "{hospital} has nothing to book in the coming days.",
    ),
    "book.no_dates": ("{department}近期暂无可预约的日期。", "{department} has no bookable date in the coming days."),
    "book.no_slots": (
        "{day}{department}已无可预约的时段,请另选日期。",
        "{department} has no bookable time left on {day}; choose another date.",
    ),
    "book.date_unknown": (
        "没看懂“{text}”。请回复日期前的序号,或如 明天、11月25日、周三。",
        'Sorry, "{text}" is not a date I know. Reply with a number from the list, or e.g. tomorrow, 25 Nov, wed.',
    ),
    "book.date_past": (
        "{day}已经过去了。可预约{first}至{last},请回复列表中的序号或日期(如 明天)。",
        "{day} has passed. Dates from {first} to {last} can be booked: reply with a number from the list or a date (e.g. tomorrow).",
    ),
    "book.no_slot_match": (
        "{day}没有符合要求的时段,以下是全部时段:",
        "No time on {day} fits that; here are all the times:",
    ),
    "book.date_no_clinic": (
        "{day}{department}没有出诊,请回复列表中的序号。",
        "{department} has no clinic on {day}; reply with a number from the list.",
    ),
    "book.date_full": (
        "{day}{department}已约满,请选择其他日期。",
        "{department} is fully booked on {day}; choose another date.",
    ),
    "book.slot_full": ("该时段已约满,请选择其他时段。", "That time is fully booked; choose another."),
    # --- refusals: which rule, until when, what to do next (RULES §2, §3, §5) -----------------------------------
    "book.refused_window_past": (
        "{day}已不可预约,可预约{first}至{last}的号源。",
        "{day} can no longer be booked; bookable dates are {first} to {last}.",
    ),
    "book.refused_window_too_far": (
        "{day}尚未放号:号源提前{days}天于{release}放出,{opens}起可约。",
        "{day} is not open yet: slots open {days} days ahead at {release}, so from {opens}.",
    ),
    "book.refused_window_too_early": (
        "{day}的号源将于{opens}放出,请届时再约。",
        "Slots for {day} open at {opens}; please book then.",
    ),
    "book.refused_slot_started": (
        "该时段已开始就诊,不能再预约,请选择其他时段。",
        "That session has already started; choose another time.",
    ),
    "book.refused_already_booked": (
        "{patient}已预约该时段,无需重复预约。可在“我的预约”中查看。",
        "{patient} already has this appointment; see My appointments.",
    ),
    "book.refused_limit_same_day_department": (
        "同一就诊日同一医院同一科室只能预约{n}次,{patient}{day}已有{department}的预约。请另选日期,或先及时取消原预约。",
        "Only {n} appointment(s) per visit date in the same department of a hospital: {patient} already has one "
        "in {department} on {day}. Choose another date, or cancel that one in time first.",
    ),
    "book.refused_limit_same_day": (
        "同一就诊日最多预约{n}次,{patient}{day}已约{n}次。请另选日期,或先及时取消其中一个。",
        "At most {n} appointments per visit date: {patient} already has {n} on {day}. Choose another date, "
        "or cancel one of them in time first.",
    ),
    "book.refused_limit_7_days": (
        "7日内最多预约{n}次,{patient}已达上限,{retry}后可再预约。及时取消的预约不计入。",
        "At most {n} appointments may be made in 7 days and {patient} has reached that; you can book again "
        "from {retry}. Appointments cancelled in time do not count.",
    ),
    "book.refused_limit_3_months": (
        "3个月内最多预约{n}次,{patient}已达上限,{retry}后可再预约。及时取消的预约不计入。",
        "At most {n} appointments may be made in 3 months and {patient} has reached that; you can book again "
        "from {retry}. Appointments cancelled in time do not count.",
    ),
    "book.refused_once_per_department": (
        "本院规定:预约周期内同一科室只能预约1次,{patient}已有{department}的预约。就诊或及时取消后可再约。",
        "This hospital allows 1 appointment per department within the booking window and {patient} already has "
        "one in {department}. You can book again after that visit, or after cancelling it in time.",
    ),
    "book.refused_once_per_doctor": (
        "本院规定:预约周期内同一医生只能预约1次,{patient}已有该医生的预约。请选择其他医生。",
        "This hospital allows 1 appointment per doctor within the booking window and {patient} already has one "
        "with this doctor; choose another doctor.",
    ),
    "book.refused_suspended": (
        "因爽约已暂停预约,{until}起可再预约。暂停期间仍可查询、取消已有预约。",
        "Booking is suspended because of missed appointments; you can book again from {until}. "
        "Meanwhile you can still view and cancel your appointments.",
    ),
    "book.refused_flagged": (
        "因涉嫌恶意预约,已停止预约至{until}。仍可查询、取消已有预约;如有异议请联系医院。",
        "Booking rights are withdrawn until {until} for suspected abusive booking. You can still view and cancel "
        "appointments; contact the hospital to appeal.",
    ),
    # --- whom a department sees (RULES §9): the bound, and what to do -------------------------------------------
    "book.refused_department_age_max": (
        "{department}仅接诊{max}岁及以下患者,{patient}不符合。请为其选择其他科室。",
        "{department} sees patients aged {max} and under; {patient} is not. Choose another department.",
    ),
    "book.refused_department_age_min": (
        "{department}仅接诊{min}岁及以上患者,{patient}不符合。请为其选择其他科室。",
        "{department} sees patients aged {min} and over; {patient} is not. Choose another department.",
    ),
    "book.refused_department_age_range": (
        "{department}仅接诊{min}至{max}岁患者,{patient}不符合。请为其选择其他科室。",
        "{department} sees patients aged {min} to {max}; {patient} is not. Choose another department.",
    ),
    "book.refused_reschedule_lottery": (
        "{day}的号源正在放号抽签,抽签结束({retry})后才能改约到这一天。也可以现在预约该日参加抽签。",
        "{day} is being released by lottery: moves into it are possible once the draw ends ({retry}). You may also "
        "book that day now to enter the draw.",
    ),
    "book.refused_department_age_day": (
        "{department}仅接诊{limit}患者,{patient}在{day}不符合(按就诊当日年龄)。请选择其他日期。",
        "{department} sees patients {limit}; on {day} {patient} is not (age on the visit date). Choose another date.",
    ),
    "book.age_max": ("{max}岁及以下", "aged {max} and under"),
    "book.age_min": ("{min}岁及以上", "aged {min} and over"),
    "book.age_range": ("{min}至{max}岁", "aged {min} to {max}"),
    "book.refused_department_sex_female": (
        "{department}仅接诊女性患者,请为{patient}选择其他科室。",
        "{department} sees female patients only; choose another department for {patient}.",
    ),
    "book.refused_department_sex_male": (
        "{department}仅接诊男性患者,请为{patient}选择其他科室。",
        "{department} sees male patients only; choose another department for {patient}.",
    ),
    "book.refused_slot_full": (
        "该时段刚刚约满,请选择其他时段。",
        "That time has just been fully booked; choose another.",
    ),
    "book.refused_slot_closed": (
        "该时段已停诊,请选择其他时段。",
        "The hospital suspended that clinic; choose another time.",
    ),
    "book.refused_no_slot": ("该号源已不存在,请重新选择。", "That slot no longer exists; choose again."),
    "book.refused_busy": (
        "预约人数较多,本次未成功。回复 Y 重试, N 放弃。",
        "Too busy right now: nothing was booked. Reply Y to try again, N to drop it.",
    ),
    "book.refused": (
        "暂时不能预约(规则:{rule}),请稍后再试。",
        "This cannot be booked now (rule: {rule}); please try again later.",
    ),
}
