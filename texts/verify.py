"""Texts of real-name verification: key -> (中文, English)."""

TEXTS: dict[str, tuple[str, str]] = {
    "verify.intro": (
        "预约需实名认证(每位就诊人一次)。",
        "Booking needs real-name verification (once per patient).",
    ),
    "verify.intro_family": (
        "添加就诊人:需验证其本人手机号。",
        "Add a patient: we will verify their own mobile number.",
    ),
    "verify.ask_name": ("请输入就诊人姓名:", "Please enter the patient's full name:"),
    "verify.ask_id_number": (
        "请输入{name}的18位居民身份证号:",
        "Please enter {name}'s 18-character resident ID number:",
    ),
    "verify.ask_phone": ("请输入就诊人的手机号:", "Please enter the patient's mobile number:"),
    "verify.ask_code": (
        "验证码已发送至 {phone},{minutes}分钟内有效。请回复6位验证码(回复 重发 可重新发送):",
        "A code was sent to {phone}, valid for {minutes} minutes. Reply with the 6 digits (or resend):",
    ),
    "verify.bad_name_length": ("姓名应为1-30个字,请重新输入:", "A name is 1 to 30 characters; please enter it again:"),
    "verify.bad_name_format": (
        "姓名不能包含数字或特殊字符,请重新输入:",
        "A name cannot contain digits or control characters; please enter it again:",
    ),
    "verify.bad_id_length": (
        "身份证号应为18位(最后一位可为X),请重新输入:",
        "An ID number has 18 characters (the last may be X); please enter it again:",
    ),
    "verify.bad_id_birth_date": (
        "身份证号中的出生日期无效,请核对后重新输入:",
        "The birth date in that ID number is not a real date; please check it and enter it again:",
    ),
    "verify.bad_id_check_digit": (
        "身份证号校验位不正确,请核对后重新输入:",
        "The check digit of that ID number is wrong; please check it and enter it again:",
    ),
    "verify.name_mismatch": (
        "姓名与已登记的证件信息不符。",
        "That name does not match the one registered with this ID number.",
    ),
    "verify.bad_phone": (
        "手机号应为1开头的11位数字,请重新输入:",
        "A mobile number has 11 digits and starts with 1; please enter it again:",
    ),
    "verify.code_wrong": (
        "验证码不正确,还可尝试{left}次。请重新输入:",
        "Wrong code; {left} tries left. Enter it again:",
    ),
    "verify.code_burnt": (
        "错误次数过多,验证码已失效。回复 重发 获取新验证码。",
        "Too many wrong tries: the code no longer works. Reply resend for a new one.",
    ),
    "verify.code_expired": (
        "验证码已过期。回复 重发 获取新验证码。",
        "The code has expired. Reply resend for a new one.",
    ),
    "verify.code_format": (
        "验证码是{length}位数字,请核对短信后重新输入(本次不计错误次数):",
        "The code is {length} digits; please check the SMS and enter it again (this try does not count):",
    ),
    "verify.resend_wait": (
        "验证码刚刚发送过,请{seconds}秒后再试(回复 重发)。",
        "A code was just sent; please try again in {seconds} seconds (reply resend).",
    ),
    "verify.resend_wait_minutes": (
        "验证码发送次数已达上限,请{minutes}分钟后再试(回复 重发)。",
        "Too many codes this hour; please try again in {minutes} minutes (reply resend).",
    ),
    "verify.send_failed": (
        "验证码发送失败,请稍后回复 重发。",
        "The code could not be sent; reply resend a little later.",
    ),
    "verify.too_many_patients_account": (
        "每个账号最多管理{limit}位就诊人,请先在“就诊人管理”中删除一位。",
        "An account may manage at most {limit} patients; remove one under Patients first.",
    ),
    "verify.too_many_patients_phone": (
        "该手机号已关联{limit}位就诊人,无法再添加。",
        "That mobile number already manages {limit} patients; no more can be added to it.",
    ),
    "verify.registered_phone": (
        "该就诊人已登记手机号 {phone},验证码将发送至该号码。",
        "This patient is registered with {phone}; the code goes to that number.",
    ),
    # say what was checked: the phone (by code or by the SMS channel itself) and the ID number's check digit —
    # never "real-name verified", which nothing here proves
    "verify.done": (
        "手机号已验证;身份证号校验通过:{name},{phone}。",
        "Phone verified; ID number format checked: {name}, {phone}.",
    ),
}
