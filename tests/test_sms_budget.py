"""Every SMS reply and notice within two segments (SPEC §5), in both languages, with the longest names of the demo
(北京儿童示范医院 / Beijing Children's Model Hospital, 小儿内科 / Paediatric Medicine, 欧阳** as the patient): a list
longer than that is paged ("回复 更多"), and the menu is left off rather than overflowing. The broadcast and the
hospital-cancellation (停诊) notices carry the longest text a broadcast request allows, in Chinese and in English
(a Chinese text in an English notice makes it UCS-2: the tightest case), sent by a real broadcast run.
Signed Twilio webhook, real Redis."""

from __future__ import annotations

import copy
import re

import pytest
import redis

from adapters.sms.webhook import sms_segments
from app.demo import DEMO_HOSPITALS, demo_schedule_csv, with_demo_calendar
from bot.broadcast_request import MAX_TEXT
from bot.broadcasts import InvalidBroadcastError
from bot.config import build_config
from bot.notifications.notifier import notice
from tests.support import NOW, Services, id_number, make_services
from tests.test_sms import Phone, make_app, sms_config_raw, with_console_codes
from texts import CATALOG, text
from texts import format as words

MORE = re.compile(r"回复 更多|Reply more")
NOTICES = ("confirmation", "window_end", "day_before", "before_start")
# the longest text a broadcast request allows, in each script (the hospital's own words, sent as written)
_CHINESE = "因医生临时外出会诊,本日门诊停诊。已预约的患者请改约其他日期或医生,给您带来不便,敬请谅解!详询医院电话。"
_ENGLISH = "The doctor is called away: today's clinic is closed. Please book another day or doctor. Sorry! "
LONGEST_TEXTS = ((_CHINESE * 30)[:MAX_TEXT], (_ENGLISH * 30)[:MAX_TEXT])


def demo_services(redis_db: redis.Redis) -> Services:
    raw = sms_config_raw()
    raw["hospitals"] = [*raw["hospitals"], *copy.deepcopy(DEMO_HOSPITALS)]  # the test hospitals first: h1, h2
    raw["sms"]["provider"] = "console"  # the webhook stays signed; what is pushed is read in the outbox
    # the calendar link `guahao serve --demo` adds (to public_url here: longer than the listening address)
    config = with_demo_calendar(build_config(raw), "127.0.0.1", 65535)
    svc = with_console_codes(make_services(redis_db, config))
    svc.schedule.import_csv(demo_schedule_csv(NOW.date()))
    return svc


def fits(message: str) -> bool:
    return sms_segments(message) <= 2 or bool(MORE.search(message))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_reply_and_notice_with_the_longest_names_fits_two_segments(redis_db: redis.Redis, lang: str) -> None:
    svc = demo_services(redis_db)
    phone = Phone(make_app(svc).test_client(), "+8613900000066")
    if lang == "en":
        phone.send("English")
    phone.send("预约")
    phone.send("欧阳娜娜")  # a four-character name: the longest masked name
    phone.send(id_number(66, birth="20200101"))  # a child: 小儿内科 takes them
    for typed in ("4", "1", "1", "1", "Y"):  # 北京儿童示范医院, 小儿内科, the first day, the first slot, yes
        phone.send(typed)
    assert f"{svc.config.server.calendar_base_url}/calendar/" in "".join(phone.log[-1][1]), phone.log[-1]
    [patient] = svc.patients.patients_of_phone("+8613900000066")
    [appointment] = svc.store.of_patient(patient.pid)
    for typed in ("查询", "LIST", "帮助", "HELP", "取消", "1", "N", "菜单"):
        phone.send(typed)
    replies = [(typed, message) for typed, messages in phone.log for message in messages]
    too_long = [
        (typed, sms_segments(message), len(message), message) for typed, message in replies if not fits(message)
    ]
    assert not too_long, too_long
    notices = [svc.notifier.compose(appointment, kind, lang=lang) for kind in NOTICES]
    values = svc.notifier.values(appointment, lang)
    for passed in ("deadline_passed", "deadline_passed_violation"):  # booked after free cancellation ended
        notices.append(notice(lang, "confirmation", **(values | {"deadline": notice(lang, passed, **values)})))
    too_long = [(sms_segments(notice), len(notice), notice) for notice in notices if sms_segments(notice) > 2]
    assert not too_long, too_long


def conversation(phone: Phone) -> None:
    """Every dialog over SMS, with the mistakes a patient makes at each step (what is said back to them)."""
    phone.send("预约")
    phone.send("欧阳娜娜")
    phone.send(id_number(66, birth="20200101"))  # a child: 小儿内科 takes them
    for typed in ("abcdefghijklmnopqrstuvwxyz", "99", "4", "心内", "1", "11月1日", "12月25日", "更多", "1", "晚上"):
        phone.send(typed)  # unknown, out of range, the hospital, a department not there, the first; past, unreleased
    for typed in ("1", "maybe", "1", "Y"):  # a slot, an answer that is not Y/N, Y
        phone.send(typed)
    for typed in ("预约", "4", "1", "1", "1", "Y"):  # the same again: refused (one a day in a department)
        phone.send(typed)
    for typed in ("查询", "LIST", "帮助", "HELP", "取消", "1", "取消预约", "N", "4", "1", "菜单", "改约", "?"):
        phone.send(typed)
    for typed in ("取消", "1", "Y", "TD", "订阅", "START", "English", "中文", "菜单"):
        phone.send(typed)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_dialog_over_sms_fits_two_segments(redis_db: redis.Redis, lang: str) -> None:
    svc = demo_services(redis_db)
    phone = Phone(make_app(svc).test_client(), "+8613900000067")
    if lang == "en":
        phone.send("English")
    conversation(phone)
    replies = [(typed, message) for typed, messages in phone.log for message in messages]
    assert len(replies) > 40
    too_long = [(typed, sms_segments(message), message) for typed, message in replies if not fits(message)]
    assert not too_long, too_long


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("message", LONGEST_TEXTS, ids=["chinese-text", "english-text"])
def test_broadcast_and_hospital_cancellation_notices_fit_two_segments(
    redis_db: redis.Redis, lang: str, message: str
) -> None:
    svc = demo_services(redis_db)
    phone = Phone(make_app(svc).test_client(), "+8613900000068")
    if lang == "en":
        phone.send("English")
    phone.send("预约")
    phone.send("欧阳娜娜")
    phone.send(id_number(68, birth="20200101"))
    for typed in ("4", "1", "1", "1", "Y"):
        phone.send(typed)
    [patient] = svc.patients.patients_of_phone("+8613900000068")
    [appointment] = svc.store.of_patient(patient.pid)
    assert len(message) == MAX_TEXT
    for cancel in (False, True):  # a notice, then a 停诊 that cancels the appointment
        request = svc.broadcasts.validate("bjetyy", appointment.date, message, cancel=cancel)
        progress, _ = svc.broadcasts.create(request, "staff:desk")
        assert svc.broadcasts.run(progress.id).sent == 1
    sent = [m for m in svc.outbox.messages_for("+8613900000068") if m["kind"] in ("broadcast", "cancellation")]
    assert [m["kind"] for m in sent] == ["broadcast", "cancellation"]
    assert all(message in m["text"] for m in sent), "the hospital's words are sent whole"
    too_long = [(sms_segments(m["text"]), m["text"]) for m in sent if sms_segments(m["text"]) > 2]
    assert not too_long, too_long


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_show_notices_and_the_sms_adapters_own_texts_fit(redis_db: redis.Redis, lang: str) -> None:
    svc = demo_services(redis_db)
    phone = Phone(make_app(svc).test_client(), "+8613900000069")
    phone.send("预约")
    phone.send("欧阳娜娜")
    phone.send(id_number(69, birth="20200101"))
    for typed in ("4", "1", "1", "1", "Y"):
        phone.send(typed)
    [patient] = svc.patients.patients_of_phone("+8613900000069")
    [appointment] = svc.store.of_patient(patient.pid)
    until = words.day(NOW.date().replace(month=12, day=31), lang, weekday=False, year=True)
    consequences = [
        "",
        notice(lang, "no_show_suspended", until=until),
        notice(lang, "no_show_next", tier=3, months=6),
        notice(lang, "no_show_next_month", tier=3, months=6),
    ]
    bodies = [
        svc.notifier.compose(appointment, "no_show", lang=lang, count=99, consequence=consequence)
        for consequence in consequences
    ]
    bodies += [text(lang, key) for key in CATALOG if key.startswith("sms.")]
    bodies.append(text(lang, "otp.code", code="123456", minutes=10))
    too_long = [(sms_segments(body), body) for body in bodies if sms_segments(body) > 2]
    assert not too_long, too_long


# the longest value each placeholder of the catalog takes in the demo (a name, a date with its weekday, a fee...)
_ZH = {
    "address": "北京市东城区示例街2号", "amount": "¥500.00", "candidates": "心血管内科、神经内科、普通外科",
    "checkin": "07:30", "code": "123456", "consequence": "今年满6次将暂停预约6个月。", "count": 99, "current": 5,
    "d": 31, "day": "12月31日", "days": 14, "deadline": "12月30日 周三 15:00", "department": "小儿内科",
    "doctor": "欧阳娜娜", "end": "17:00", "fee": "¥500.00", "first": "12月24日", "hospital": "北京儿童示范医院",
    "hours": 24, "id": "110105********123X", "last": "12月31日", "left": 4, "length": 6, "level": "专家", "limit": 5,
    "max": 150, "message": "停" * MAX_TEXT, "min": 0, "minutes": 10, "month": 12, "months": 6, "n": 99,
    "name": "欧阳**", "opens": "12月31日 周四 07:30", "patient": "欧阳**", "percent": 50, "phone": "010-87654321",
    "place": "北京儿童示范医院(北京市东城区示例街2号)", "places": "余30", "queue": 999, "refund": "¥500.00",
    "release": "07:30", "retry": "12月31日 周四 07:30", "rule": "limit_same_day_department", "seconds": 59,
    "serial": "12345678", "start": "14:00", "status": "医院停诊", "tail": "123X", "text": "停" * 20, "tier": 6,
    "time": "07:30", "until": "2027年12月31日", "visit": "12月31日 周四 14:00-17:00",
    "visit_start": "12月31日 周四 14:00", "weekday": "周四", "wish": "12月31日 下午 专家", "year": 2027,
    "old": "12月30日 周三 14:00-17:00", "new": "12月31日 周四 14:00-17:00", "ends": "12月31日 周四 07:30",
    "results": "12月31日 周四 07:30", "position": 999,
    "item": "欧阳** 12月31日 周四 14:00-17:00 小儿内科 欧阳娜娜 已为您保留至12月31日 周四 07:30,回复 Y 确认",
    "url": "https://guahao.example-hospital.cn/calendar/AAAAAAAAAAAAAAAA.ics",
}  # fmt: skip
_EN = {
    **_ZH,
    "candidates": "Cardiology, Neurology, General Surgery",
    "consequence": "At 6, booking is suspended 6 months.",
    "day": "31 Dec", "deadline": "Wed 30 Dec 15:00", "department": "Paediatric Medicine", "doctor": "Ouyang Nana",
    "first": "24 Dec", "hospital": "Beijing Children's Model Hospital", "last": "31 Dec", "level": "expert",
    "name": "Ouyang**", "opens": "Thu 31 Dec 07:30", "patient": "Ouyang**",
    "place": "Beijing Children's Model Hospital", "places": "30 left", "retry": "Thu 31 Dec 07:30",
    "status": "cancelled by the hospital", "until": "31 Dec 2027", "visit": "Thu 31 Dec 14:00-17:00",
    "visit_start": "Thu 31 Dec 14:00", "weekday": "Thu", "wish": "31 Dec, afternoon, expert",
    "old": "Wed 30 Dec 14:00-17:00", "new": "Thu 31 Dec 14:00-17:00", "ends": "Thu 31 Dec 07:30",
    "results": "Thu 31 Dec 07:30",
    "item": "Ouyang** Thu 31 Dec 14:00-17:00 Paediatric Medicine Ouyang Nana "
    "held for you until Thu 31 Dec 07:30: reply Y",
}  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_text_of_the_catalog_with_the_longest_values_fits_two_segments(lang: str) -> None:
    """Whatever dialog says it: each paragraph of each text, its placeholders at their longest (a Chinese broadcast
    text in an English notice included: UCS-2), fits two segments."""
    values = dict(_ZH if lang == "zh" else _EN)
    # a text that is itself a placeholder's value: its longest form (a fee difference of a move)
    values["difference"] = max(
        (text(lang, key, amount="¥500.00") for key in CATALOG if key.startswith("reschedule.fee_")), key=len, default=""
    )
    too_long = []
    for key, (zh, en) in CATALOG.items():
        if key.startswith(("sms_template.", "sms_value.")):
            continue  # a mainland provider's approved template and its variables: measured in test_mainland_sms.py
        for paragraph in (zh if lang == "zh" else en).format(**values).split("\n\n"):
            if sms_segments(paragraph) > 2:
                too_long.append((key, sms_segments(paragraph), paragraph))
    assert not too_long, too_long


def test_a_broadcast_text_longer_than_one_sms_allows_is_refused_saying_why(redis_db: redis.Redis) -> None:
    svc = demo_services(redis_db)
    day = (NOW.date()).isoformat()
    assert svc.broadcasts.validate("bjetyy", day, "停" * MAX_TEXT).text == "停" * MAX_TEXT
    with pytest.raises(InvalidBroadcastError) as refused:
        svc.broadcasts.validate("bjetyy", day, "停" * (MAX_TEXT + 1))
    assert str(refused.value) == f"text: {MAX_TEXT + 1} characters, at most {MAX_TEXT}: it goes out as one SMS"
