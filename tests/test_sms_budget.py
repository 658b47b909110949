"""Every SMS reply and notice within two segments (SPEC §5), in both languages, with the longest names of the demo
(北京儿童示范医院 / Beijing Children's Model Hospital, 小儿内科 / Paediatric Medicine): a list longer than that
is paged ("回复 更多"), and the menu is left off rather than overflowing. Signed Twilio webhook, real Redis."""

from __future__ import annotations

import copy
import re

import pytest
import redis

from adapters.sms.webhook import sms_segments
from app.demo import DEMO_HOSPITALS, demo_schedule_csv
from bot.config import build_config
from tests.support import NOW, Services, id_number, make_services
from tests.test_sms import Phone, make_app, sms_config_raw, with_console_codes

MORE = re.compile(r"回复 更多|Reply more")
NOTICES = ("confirmation", "window_end", "day_before", "before_start")


def demo_services(redis_db: redis.Redis) -> Services:
    raw = sms_config_raw()
    raw["hospitals"] = [*raw["hospitals"], *copy.deepcopy(DEMO_HOSPITALS)]  # the test hospitals first: h1, h2
    svc = with_console_codes(make_services(redis_db, build_config(raw)))
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
    too_long = [(sms_segments(notice), len(notice), notice) for notice in notices if sms_segments(notice) > 2]
    assert not too_long, too_long
