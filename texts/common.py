"""Texts of the menu, help, global commands and errors: key -> (中文, English)."""

TEXTS: dict[str, tuple[str, str]] = {
    "common.welcome": (
        "欢迎使用预约挂号服务。实名预约,按时就诊;及时取消不影响再次预约。",
        "Welcome to the appointment service. Booking is by real name; cancel in time and nothing counts against you.",
    ),
    "common.menu": (
        "请回复数字选择:\n1. 预约挂号\n2. 我的预约\n3. 取消预约\n4. 就诊人管理\n5. 帮助",
        "Reply with a number:\n1. Book an appointment\n2. My appointments\n3. Cancel an appointment\n"
        "4. Patients\n5. Help",
    ),
    "common.menu_unknown": (
        "没看懂“{text}”。请回复 1-5 中的数字。",
        'Sorry, I did not understand "{text}". Please reply with a number from 1 to 5.',
    ),
    "common.help": (
        "随时可回复:菜单(回到主菜单)、帮助、退出(离开当前步骤)、English。"
        "选择时回复序号或名称;日期可写 11月25日、明天、下周三。也可直接说:明天上午心内科、取消预约。",
        "At any time reply: menu (main menu), help, exit (leave this step), chinese. "
        "Answer choices with the number or the name; dates like 25 Nov, tomorrow or next wed. "
        "Or just say it: tomorrow morning cardiology, cancel my appointment.",
    ),
    "common.left_step": ("已退出当前步骤。", "You left that step."),
    "common.idle_reset": (
        "您已超过30分钟未操作,会话已重新开始。",
        "You were away for more than 30 minutes, so we started over.",
    ),
    "common.unknown_state": (
        "抱歉,系统已更新,请从主菜单重新开始。",
        "Sorry, the service was updated; please start again from the menu.",
    ),
    "common.language_set": ("已切换为中文。", "Switched to English."),
    "common.busy": ("系统繁忙,请稍后再试。", "The system is busy, please try again later."),
    "common.rate_limited": (
        "您发送消息过于频繁,请{seconds}秒后再试。",
        "You are sending messages too fast; please try again in {seconds} s.",
    ),
    "common.more": ("回复 更多 查看更多选项", "Reply more for more options"),
    "common.no_more": ("没有更多选项了。", "There are no more options."),
    "common.ambiguous": (
        "“{candidates}”都符合,请回复序号。",
        "Several options match ({candidates}); reply with the number.",
    ),
    "common.not_an_option": (
        "没有找到“{text}”,请回复列表中的序号或名称。",
        '"{text}" is not in the list; reply with a number or a name from the list.',
    ),
    "common.yes_no": (
        "没看懂“{text}”。请回复 Y(是)或 N(否)。",
        '"{text}" is not an answer here: please reply Y (yes) or N (no).',
    ),
    "common.out_of_range": (
        "没有第{n}项,请回复 1-{count} 中的序号。",
        "There is no option {n}: reply with a number from 1 to {count}.",
    ),
    "common.nothing_to_confirm": (
        "现在没有需要确认的事项。",
        "There is nothing to confirm right now.",
    ),
    "common.unsupported": (
        "目前只能处理文字消息。回复 菜单 查看可办理的业务。",
        "I can only read text messages. Reply menu to see what I can do.",
    ),
    "common.prompt": ("你> ", "you> "),  # the terminal chat's prompt (guahao chat)
}
