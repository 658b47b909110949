"""Texts of patient management (就诊人管理): key -> (中文, English)."""

TEXTS: dict[str, tuple[str, str]] = {
    "patients.list_title": ("您的就诊人:", "Your patients:"),
    "patients.line": ("{name} {id} {phone}{current}", "{name} {id} {phone}{current}"),
    "patients.line_short": ("{name} 证件尾号{tail}{current}", "{name} ID ending {tail}{current}"),
    "patients.current": ("(当前)", " (current)"),
    "patients.actions_title": ("请回复数字选择:", "Reply with a number:"),
    "patients.action_add": ("添加就诊人", "Add a patient"),
    "patients.action_switch": ("切换就诊人", "Switch patient"),
    "patients.action_remove": ("删除就诊人", "Remove a patient"),
    "patients.action_back": ("返回主菜单", "Back to menu"),
    "patients.full": (
        "每个账号最多管理{limit}位就诊人,请先删除一位。",
        "An account may manage at most {limit} patients; remove one first.",
    ),
    "patients.only_one": ("您只有一位就诊人,无需切换。", "You have only one patient; nothing to switch."),
    "patients.ask_pick_active": ("切换为哪位就诊人?", "Switch to which patient?"),
    "patients.ask_pick_remove": ("删除哪位就诊人?", "Remove which patient?"),
    "patients.switched": ("当前就诊人已切换为{name}。", "Now acting for {name}."),
    "patients.ask_confirm_remove": (
        "确认删除{name}?其预约和爽约记录仍归本人所有,不会清除。回复 Y 删除,N 保留。",
        "Remove {name}? Their appointments and no-show record stay with them. Reply Y to remove, N to keep.",
    ),
    "patients.last_warning": (
        "这是最后一位就诊人,删除后需重新实名认证才能预约。",
        "This is your last patient: you will need to verify again before booking.",
    ),
    "patients.yes_no": ("请回复 Y 删除{name},或 N 保留。", "Reply Y to remove {name}, or N to keep them."),
    "patients.removed": ("已删除{name}。", "Removed {name}."),
    "patients.removed_last": (
        "已删除{name}。预约前需重新实名认证。",
        "Removed {name}. You will need to verify again before booking.",
    ),
    "patients.kept": ("已保留{name}。", "Kept {name}."),
    "patients.gone": ("该就诊人已不在您的列表中。", "That patient is no longer on your list."),
}
