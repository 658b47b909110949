"""A step's own answers win over the intents (issue 13): 取消预约 at a booking's Y/N is its N, at the cancellation's
Y/N it is asked again (it reads both ways), while 我的预约 / 菜单 / help still switch; and a whole sentence at the
department question fills what it names, as at the menu. Real pipeline, real Redis (the heart hospital of
tests/test_dialog_understanding.py: 心血管内科 with 张伟 mornings and 李娜 afternoons, 神经内科 with 王芳)."""

from __future__ import annotations

import pytest
import redis

import rules
from dialogs import intents
from tests.dialog_support import Chat
from tests.support import Services
from tests.test_dialog_understanding import TOMORROW, chat_of, heart_services


@pytest.fixture
def heart(redis_db: redis.Redis) -> Services:
    return heart_services(redis_db)


# --- the booking's confirmation --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["取消预约", "取消", "不要了", "cancel it", "我要取消", "取消挂号"])
def test_cancel_words_at_the_booking_confirmation_are_its_no(heart: Services, typed: str) -> None:
    chat = chat_of(heart)
    assert "回复 Y 确认, N 取消" in chat.send("明天上午心内科")
    reply = chat.send(typed)
    assert "好的,本次未预约。" in reply and "您目前没有可取消的预约" not in reply, reply
    assert heart.store.listing() == [], "nothing booked"


def test_a_booking_word_at_the_confirmation_asks_again_and_keeps_the_choice(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("明天下午心内科")
    reply = chat.send("挂号")
    assert "没看懂“挂号”。请回复 Y(是)或 N(否)。" in reply and "请选择心脏病医院的科室" not in reply
    assert "识别码" in chat.send("Y"), "the chosen slot is still the one confirmed"
    [booked] = heart.store.listing()
    assert booked.start == "14:00"


@pytest.mark.parametrize(
    ("typed", "shows"),
    [("我的预约", "您目前没有待就诊的预约"), ("菜单", "1. 预约挂号"), ("help", "随时可回复")],
)
def test_another_intent_still_switches_from_the_confirmation(heart: Services, typed: str, shows: str) -> None:
    chat = chat_of(heart)
    chat.send("明天上午心内科")
    assert shows in chat.send(typed)
    assert heart.store.listing() == []


# --- the cancellation's confirmation -----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["取消预约", "取消", "不要了", "cancel"])
def test_cancel_words_at_the_cancellation_are_asked_again_never_guessed(heart: Services, typed: str) -> None:
    acct, patient = heart.patient(1, user="openid-a")
    booked = heart.booking.book(patient.pid, acct, "wechat", f"h9|xn|zw|{TOMORROW}|08:00")
    chat = Chat(heart)
    chat.send("菜单")
    assert "回复 Y 确认取消, N 保留" in chat.send("3")
    reply = chat.send(typed)
    assert f"回复 Y 确认取消预约{booked.serial},回复 N 保留。" in reply, reply
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.booked
    assert f"已保留预约{booked.serial}" in chat.send("no")
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.booked


def test_yes_after_the_question_cancels(heart: Services) -> None:
    acct, patient = heart.patient(1, user="openid-a")
    booked = heart.booking.book(patient.pid, acct, "wechat", f"h9|xn|zw|{TOMORROW}|08:00")
    chat = Chat(heart)
    chat.send("菜单")
    chat.send("取消预约")
    chat.send("取消预约")  # the same words again at its confirmation: asked, not restarted
    assert "已取消预约" in chat.send("Y")
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.cancelled


def test_step_answers_table() -> None:
    assert intents.intent_at("book.confirm", "取消预约") is None
    assert intents.intent_at("book.confirm", "我的预约") == intents.Intent.LIST
    assert intents.intent_at("book.date", "取消预约") == intents.Intent.CANCEL
    assert intents.intent_at("cancel.confirm", "cancel my appointment") is None
    assert intents.declines_booking("算了不约了") and not intents.declines_booking("好的")


# --- a whole sentence at the department question -----------------------------------------------------------------


def test_a_sentence_at_the_department_question_fills_all_it_names(heart: Services) -> None:
    chat = chat_of(heart)
    assert "请选择心脏病医院的科室" in chat.send("1")
    reply = chat.send("明天上午心内科")
    assert "请确认预约:\n张* 11月24日 周二 08:00-11:30\n心脏病医院 心血管内科 张伟 普通 ¥5" in reply, reply


def test_an_english_sentence_at_the_department_question(heart: Services) -> None:
    chat = chat_of(heart, english=True)
    assert "Choose a department of Heart Hospital" in chat.send("1")
    reply = chat.send("tomorrow morning cardiology")
    assert "Please confirm:" in reply and "Tue 24 Nov 08:00-11:30" in reply and "Cardiology, Zhang Wei" in reply


def test_doctor_day_and_level_at_the_department_question(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    reply = chat.send("挂李娜下周一的专家号")  # 李娜 works in 心血管内科 only
    assert "请确认预约:\n张* 11月30日 周一 14:00-17:00\n心脏病医院 心血管内科 李娜 专家 ¥50" in reply, reply


def test_an_unreleased_day_at_the_department_question_is_said_and_the_rest_kept(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    reply = chat.send("挂李娜下周三的专家号")  # 2 December: not released yet
    assert "尚未放号" in reply and "请选择心血管内科的就诊日期" in reply, reply
    reply = chat.send("明天")  # the doctor and the level are kept: her one slot that day is confirmed next
    assert "请确认预约:\n张* 11月24日 周二 14:00-17:00\n心脏病医院 心血管内科 李娜 专家 ¥50" in reply, reply


def test_a_sentence_without_a_department_is_noted_and_the_department_asked(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    reply = chat.send("明天下午专家号")
    assert reply.startswith("已记下:11月24日 下午 专家。") and "1. 心血管内科" in reply, reply
    assert "心脏病医院 心血管内科 李娜 专家 ¥50" in chat.send("心内"), "the day, time and level are used"


def test_a_sentence_naming_a_department_the_patient_is_refused_by(redis_db: redis.Redis) -> None:
    """儿科 for an adult, typed in a sentence at the department question: refused with the reason, asked again."""
    import copy

    from bot.config import build_config
    from tests.support import CONFIG_RAW, make_services

    raw = copy.deepcopy(CONFIG_RAW)
    raw["hospitals"] = [
        {
            "id": "hk",
            "name": "儿童医院",
            "departments": [
                {"id": "ek", "name": "儿科", "age_max": 14},
                {"id": "nk", "name": "内科"},
            ],
        }
    ]
    svc = make_services(redis_db, build_config(raw))
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    rows += [f"hk,{d},d{d},general,{TOMORROW},08:00,11:30,5,5,医生{d}" for d in ("ek", "nk")]
    svc.schedule.import_csv("\n".join(rows) + "\n")
    chat = chat_of(svc)
    chat.send("1")
    reply = chat.send("明天上午儿科")
    assert "请确认预约" not in reply and "请选择儿童医院的科室" in reply, reply
    assert "14" in reply, "the age limit is named"


def test_a_sentence_at_the_date_question_naming_this_department_or_its_doctor(heart: Services) -> None:
    chat = chat_of(heart)
    chat.send("1")
    assert "请选择心血管内科的就诊日期" in chat.send("心内")
    reply = chat.send("明天上午心内科")
    assert "请确认预约:\n张* 11月24日 周二 08:00-11:30\n心脏病医院 心血管内科 张伟 普通 ¥5" in reply, reply
    chat.send("N")
    chat.send("1")
    chat.send("心内")
    reply = chat.send("李娜明天")
    assert "心脏病医院 心血管内科 李娜 专家 ¥50" in reply, reply


# --- a whole sentence at the hospital question (two hospitals: 第一医院 with 内科 外科 儿科, 第二医院 with 内科) ------


def test_a_sentence_at_the_hospital_question_takes_the_one_hospital_it_points_to(svc: Services) -> None:
    svc.patient(1, user="openid-h")
    chat = Chat(svc, user="openid-h")
    chat.send("菜单")
    assert "请选择医院" in chat.send("1")
    reply = chat.send("明天上午外科")  # only 第一医院 has 外科
    assert "请确认预约" in reply and "第一医院 外科" in reply and "11月24日 周二 08:00" in reply, reply


def test_a_sentence_naming_a_department_of_both_hospitals_asks_the_hospital_then_uses_the_rest(
    svc: Services,
) -> None:
    svc.patient(1, user="openid-h2")
    chat = Chat(svc, user="openid-h2")
    chat.send("菜单")
    chat.send("1")
    reply = chat.send("明天下午内科")  # both hospitals have 内科
    assert reply.startswith("已记下:11月24日 下午 内科。") and "请选择医院" in reply, reply
    reply = chat.send("2")
    assert "请确认预约" in reply and "第二医院 内科" in reply and "11月24日 周二 14:00" in reply, reply


def test_a_hospital_typed_at_its_question_is_still_a_hospital(svc: Services) -> None:
    svc.patient(1, user="openid-h3")
    chat = Chat(svc, user="openid-h3")
    chat.send("菜单")
    chat.send("1")
    assert "请选择第二医院的科室" in chat.send("第二医院")
    chat.send("菜单")
    chat.send("1")
    assert "没有找到“asdf”" in chat.send("asdf")


def test_a_sentence_at_the_menu_skips_the_hospital_its_department_points_to(svc: Services) -> None:
    svc.patient(1, user="openid-h4")
    chat = Chat(svc, user="openid-h4")
    chat.send("菜单")
    reply = chat.send("明天上午外科")  # two hospitals, but only 第一医院 has 外科: it is not asked
    assert "请确认预约" in reply and "第一医院 外科" in reply and "请选择医院" not in reply, reply


def test_a_sentence_at_the_patient_question_is_kept_and_the_patient_asked(svc: Services) -> None:
    svc.patient(1, user="openid-p")
    svc.patient(2, user="openid-p")  # the same account manages two patients
    chat = Chat(svc, user="openid-p")
    chat.send("菜单")
    assert "请选择就诊人" in chat.send("1")
    reply = chat.send("明天上午外科")
    assert reply.startswith("已记下:11月24日 上午 外科。") and "请选择就诊人" in reply, reply
    reply = chat.send("1")
    assert "请确认预约" in reply and "第一医院 外科" in reply and "11月24日 周二 08:00" in reply, reply


def test_cancel_words_at_the_reschedule_confirmation_are_asked_again(heart: Services) -> None:
    acct, patient = heart.patient(1, user="openid-a")
    booked = heart.booking.book(patient.pid, acct, "wechat", f"h9|xn|zw|{TOMORROW}|08:00")
    chat = Chat(heart)
    chat.send("菜单")
    chat.send("改约")
    chat.send("2")
    assert "回复 Y 确认改约,N 保留原预约" in chat.send("1")
    reply = chat.send("取消预约")  # neither answer: asked again, never the cancel dialog
    assert "请回复 Y(是)或 N(否)" in reply and "可取消" not in reply, reply
    assert heart.store.require(booked.serial).status == rules.AppointmentStatus.booked
    assert f"原预约 {booked.serial} 保留" in chat.send("N")
