"""The words of dates, times and money: key -> (中文, English), composed by :mod:`texts.format` only.

A day is ``11月24日 周二`` / ``Tue 24 Nov`` wherever it is shown (chat, SMS, pushes); money is ``¥12.50`` (``¥5``) in
both languages (¥ is in the GSM 7-bit alphabet, so an English SMS stays GSM).
"""

TEXTS: dict[str, tuple[str, str]] = {
    "calendar.months": (
        "1月,2月,3月,4月,5月,6月,7月,8月,9月,10月,11月,12月",
        "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec",
    ),
    "calendar.weekdays": ("周一,周二,周三,周四,周五,周六,周日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
    "calendar.day": ("{month}{d}日", "{d} {month}"),
    "calendar.day_with_weekday": ("{month}{d}日 {weekday}", "{weekday} {d} {month}"),
    "calendar.long_day": ("{year}年{month}{d}日", "{d} {month} {year}"),
    "calendar.long_day_with_weekday": ("{year}年{month}{d}日 {weekday}", "{weekday} {d} {month} {year}"),
    "calendar.at": ("{day} {time}", "{day} {time}"),
    "calendar.span": ("{start}-{end}", "{start}-{end}"),
    "calendar.money": ("¥{amount}", "¥{amount}"),
}
