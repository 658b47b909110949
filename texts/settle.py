"""Texts of a change not yet confirmed by the replicas (SPEC §7): key -> (中文, English).

Said instead of "done" when Redis's replicas did not confirm a booking or a cancellation in time (a failover may be
under way); the outcome follows as a pushed message once it is known. Short: an SMS reply stays within two segments.
"""

TEXTS: dict[str, tuple[str, str]] = {
    "settle.booking_pending": (
        "预约已提交(识别码 {serial}),系统正在确认,结果稍后发送给您,请勿重复预约。",
        "Your booking (serial {serial}) is being confirmed. We will send you the result shortly; please do not "
        "book again.",
    ),
    "settle.cancel_pending": (
        "取消已提交(识别码 {serial}),系统正在确认,结果稍后发送给您。",
        "Your cancellation (serial {serial}) is being confirmed. We will send you the result shortly.",
    ),
    "settle.booked": (
        "预约已确认:识别码 {serial},第{queue}号,{visit}。",
        "Booking confirmed: serial {serial}, queue no. {queue}, {visit}.",
    ),
    "settle.not_booked": (
        "抱歉,您的预约(识别码 {serial})未能完成,未扣号,请重新预约。",
        "Sorry, your booking (serial {serial}) did not go through and holds no place. Please book again.",
    ),
    "settle.reschedule_pending": (
        "改约已提交(新识别码 {serial}),系统正在确认,结果稍后发送给您。",
        "Your change of appointment (new serial {serial}) is being confirmed. We will send you the result shortly.",
    ),
    "settle.rescheduled": (
        "改约已确认:新识别码 {serial},第{queue}号,{visit}。",
        "Change confirmed: new serial {serial}, queue no. {queue}, {visit}.",
    ),
    "settle.not_rescheduled": (
        "抱歉,您的改约(识别码 {serial})未能完成,原预约仍然有效,如需改约请重新操作。",
        "Sorry, your change of appointment (serial {serial}) did not go through: your original booking stands.",
    ),
    "settle.cancelled": (
        "取消已确认:识别码 {serial}。",
        "Cancellation confirmed: serial {serial}.",
    ),
    "settle.not_cancelled": (
        "抱歉,您的取消(识别码 {serial})未能完成,预约仍然有效,如需取消请重新操作。",
        "Sorry, your cancellation (serial {serial}) did not go through: the booking stands. Cancel again if you "
        "still wish to.",
    ),
}
