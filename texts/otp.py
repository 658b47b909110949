"""The SMS that carries a one-time code: key -> (中文, English). The code exists in clear only in this text."""

TEXTS: dict[str, tuple[str, str]] = {
    "otp.code": (
        "【挂号】您的验证码是 {code},{minutes}分钟内有效。请勿告诉他人。",
        "[Guahao] Your verification code is {code}, valid for {minutes} minutes. Do not share it.",
    ),
}
