"""Whom a department sees (RULES §9), end to end on a real Redis: the service refuses, the dialog says why."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import redis

import rules
from app.demo import DEMO_HOSPITALS, demo_schedule_csv
from bot.booking import BookingRefused
from bot.config import build_config
from bot.errors import ConfigError
from bot.patients import account_id
from tests.dialog_support import Chat
from tests.support import CONFIG_RAW, NOW, Services, make_services, phone_number

TOMORROW = NOW.date() + timedelta(days=1)  # Tuesday 24 November 2026
ADULT_MALE = "19920101001"  # 34 on the visit dates; 17th digit odd: male
ADULT_FEMALE = "19920101002"
CHILD = "20150601003"  # 11
TURNS_15 = "20111126005"  # 14 until Wednesday 25 November, 15 from Thursday 26


def _config(**ek: Any) -> dict[str, Any]:
    raw = dict(CONFIG_RAW)
    raw["hospitals"] = [
        {
            "id": "h9",
            "name": "示范医院",
            "departments": [
                {"id": "nk", "name": "内科", "name_en": "Internal Medicine"},
                {"id": "ek", "name": "儿科", "name_en": "Paediatrics", "age_max": 14, **ek},
                {"id": "fk", "name": "妇科", "name_en": "Gynaecology", "sex": "female"},
            ],
        }
    ]
    return raw


@pytest.fixture
def svc(redis_db: redis.Redis) -> Services:
    services = make_services(redis_db, build_config(_config()))
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee"]
    for offset in range(7):
        day = TOMORROW + timedelta(days=offset)
        rows += [f"h9,{d},dr-{d},general,{day},08:00,12:00,20,5" for d in ("nk", "ek", "fk")]
    services.schedule.import_csv("\n".join(rows) + "\n")
    return services


def _id(born_and_sequence: str) -> str:
    first17 = "110105" + born_and_sequence
    return first17 + rules.id_check_digit(first17)


def _patient(svc: Services, born_and_sequence: str, user: str = "openid-a") -> tuple[Chat, str]:
    acct = account_id(svc.box, "wechat", user)
    view = svc.patients.add_patient(acct, "wechat", "王小明", _id(born_and_sequence), phone_number(7))
    return Chat(svc, user=user), view.pid


def _book(svc: Services, pid: str, department: str, day: Any = TOMORROW) -> str:
    acct = account_id(svc.box, "wechat", "openid-a")
    return svc.booking.book(pid, acct, "wechat", f"h9|{department}|dr-{department}|{day}|08:00").serial


def test_an_adult_choosing_paediatrics_is_told_why_and_asked_again(svc: Services) -> None:
    chat, pid = _patient(svc, ADULT_MALE)
    assert "请选择示范医院的科室:\n1. 内科\n2. 儿科\n3. 妇科" in chat.send("1")
    refused = chat.send("儿科")
    assert "儿科仅接诊14岁及以下患者,王**不符合。请为其选择其他科室。" in refused
    assert "请选择内科的就诊日期" in chat.send("内科")
    assert svc.store.of_patient(pid) == []


def test_another_department_named_at_the_date_question_is_checked_then_taken(svc: Services) -> None:
    chat, pid = _patient(svc, ADULT_MALE)
    chat.send("1")
    assert "请选择内科的就诊日期" in chat.send("内科")
    refused = chat.send("改挂妇科")
    assert "妇科仅接诊女性患者,请为王**选择其他科室。" in refused and "请选择内科的就诊日期" in refused
    assert "儿科仅接诊14岁及以下患者" in chat.send("明天儿科")
    child, _ = _patient(svc, CHILD, user="openid-b")
    child.send("1")
    child.send("内科")
    assert "11月24日 周二 儿科,请选择时段" in child.send("明天儿科")
    assert "请确认预约" in child.send("1")
    assert svc.store.of_patient(pid) == []


def test_another_department_named_at_the_slot_question_is_checked_then_taken(svc: Services) -> None:
    chat, pid = _patient(svc, ADULT_MALE)
    chat.send("1")
    chat.send("内科")
    assert "11月24日 周二 内科,请选择时段" in chat.send("明天")
    refused = chat.send("改挂妇科")
    assert "妇科仅接诊女性患者,请为王**选择其他科室。" in refused and "11月24日 周二 内科,请选择时段" in refused
    child, _ = _patient(svc, CHILD, user="openid-b")
    child.send("1")
    child.send("内科")
    child.send("明天")
    assert "11月24日 周二 儿科,请选择时段" in child.send("改挂儿科")
    assert "请确认预约" in child.send("1")
    assert svc.store.of_patient(pid) == []


def test_the_refusal_in_english(svc: Services) -> None:
    chat, _ = _patient(svc, ADULT_MALE)
    chat.send("English")
    chat.send("1")
    # English names throughout: the department's name_en, the patient's masked name in pinyin
    assert "Paediatrics sees patients aged 14 and under; Wang** is not. Choose another department." in chat.send("2")


def test_a_child_books_paediatrics(svc: Services) -> None:
    chat, pid = _patient(svc, CHILD)
    chat.send("1")
    assert "请选择儿科的就诊日期" in chat.send("儿科")
    chat.send("1")
    chat.send("1")
    assert "预约成功" in chat.send("是")
    assert [a.department for a in svc.store.of_patient(pid)] == ["ek"]


def test_a_man_is_refused_at_a_department_for_women(svc: Services) -> None:
    chat, pid = _patient(svc, ADULT_MALE)
    chat.send("1")
    assert "妇科仅接诊女性患者,请为王**选择其他科室。" in chat.send("妇科")
    with pytest.raises(BookingRefused) as refused:
        _book(svc, pid, "fk")
    assert refused.value.decision.rule == "department_sex"


def test_a_woman_books_it(svc: Services) -> None:
    _, pid = _patient(svc, ADULT_FEMALE)
    assert _book(svc, pid, "fk")


def test_the_service_refuses_whatever_the_dialog_did(svc: Services) -> None:
    _, pid = _patient(svc, ADULT_MALE)
    with pytest.raises(BookingRefused) as refused:
        _book(svc, pid, "ek")
    assert refused.value.decision.rule == "department_age"
    assert refused.value.decision.detail == "aged 34 on the visit date, at most 14"
    assert _book(svc, pid, "nk")  # other departments are unaffected


def test_the_age_on_the_visit_date_counts(svc: Services) -> None:
    chat, pid = _patient(svc, TURNS_15)
    assert _book(svc, pid, "ek", TOMORROW + timedelta(days=1))  # 14 on Wednesday
    with pytest.raises(BookingRefused):
        _book(svc, pid, "ek", TOMORROW + timedelta(days=2))  # 15 on Thursday
    chat.send("1")
    assert "请选择儿科的就诊日期" in chat.send("儿科"), "some dates of the window still fit: not refused early"


def test_a_date_over_age_is_refused_at_the_date_and_says_why(svc: Services) -> None:
    chat, _ = _patient(svc, TURNS_15)
    chat.send("1")
    chat.send("儿科")
    reply = chat.send("4")  # Friday 27 November: 15 by then
    assert "儿科仅接诊14岁及以下患者" in reply and "请选择其他日期" in reply, "not only once confirmed"


@pytest.mark.parametrize(
    ("ek", "expected"),
    [
        ({"age_max": -1}, "a whole number of years from 0 to 150"),
        ({"age_max": True}, "a whole number of years from 0 to 150"),
        ({"age_min": "3"}, "a whole number of years from 0 to 150"),
        ({"age_min": 15}, "age_min not above age_max"),
        ({"sex": "f"}, 'one of "female", "male"'),
    ],
)
def test_config_mistakes_are_one_line(ek: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        build_config(_config(**ek))


def test_age_min_and_range_texts(redis_db: redis.Redis) -> None:
    raw = _config(age_min=1)
    svc = make_services(redis_db, build_config(raw))
    svc.schedule.import_csv(
        f"hospital,department,doctor,level,date,start,end,capacity,fee\nh9,ek,dr,general,{TOMORROW},08:00,12:00,20,5\n"
    )
    chat, _ = _patient(svc, ADULT_MALE)
    chat.send("1")
    assert "儿科仅接诊1至14岁患者" in chat.send("儿科")


@pytest.mark.parametrize(("born_and_sequence", "department", "said"), [
    (ADULT_MALE, "妇产科", "妇产科仅接诊女性患者,请为王**选择其他科室。"),
    (ADULT_FEMALE, "男科", "男科仅接诊男性患者,请为王**选择其他科室。"),
    (ADULT_FEMALE, "儿科", "儿科仅接诊14岁及以下患者,王**不符合。请为其选择其他科室。"),
])  # fmt: skip
def test_the_demo_sets_whom_its_departments_see(
    redis_db: redis.Redis, born_and_sequence: str, department: str, said: str
) -> None:
    """RULES §9: "the demo sets them for its departments" — ages and sex, in the hospitals `--demo` serves."""
    raw = {**CONFIG_RAW, "hospitals": copy.deepcopy(DEMO_HOSPITALS)}
    svc = make_services(redis_db, build_config(raw))
    svc.schedule.import_csv(demo_schedule_csv(NOW.date()))
    chat, _ = _patient(svc, born_and_sequence)
    chat.send("1")
    chat.send("1")  # 北京第一人民医院
    assert said in chat.send(department)
