"""English conversations name hospitals, departments and doctors in English: the configured ``name_en`` (the
schedule's ``name_en`` column for doctors), pinyin where none is given; the terminal prompt speaks the
conversation's language. Real pipeline, real Redis, the worker run as the app runs it."""

from __future__ import annotations

import copy
import io
from datetime import timedelta

import pytest
import redis

from adapters.console.chat import run_chat
from app.services import build_engine
from app.worker import run_worker
from bot.config import build_config
from bot.names import name_in
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import CONFIG_RAW, NOW, Services, make_services

TOMORROW = NOW.date() + timedelta(days=1)
CSV = (
    "hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name,name_en\n"
    f"hx,xn,d1,general,{TOMORROW},08:00,11:30,10,500,张伟,Dr. Wei Zhang\n"
    f"hx,sn,d2,general,{TOMORROW},08:00,11:30,10,500,李娜,\n"
)


@pytest.fixture
def heart(redis_db: redis.Redis) -> Services:
    raw = copy.deepcopy(CONFIG_RAW)
    raw["hospitals"] = [
        {
            "id": "hx",
            "name": "心脏病医院",
            "name_en": "Heart Hospital",
            "departments": [
                {"id": "xn", "name": "心血管内科", "name_en": "Cardiology"},
                {"id": "sn", "name": "神经内科"},  # no English name: pinyin
            ],
        }
    ]
    svc = make_services(redis_db, build_config(raw))
    svc.schedule.import_csv(CSV)
    return svc


def english_chat(svc: Services, user: str) -> Chat:
    chat = Chat(svc, Channel.wechat, user)
    chat.send("English")
    chat.send("1")
    chat.verify("Zhang San", "11010519491231002X", "13812345678")
    return chat


def test_pinyin_where_no_english_name_is_given() -> None:
    assert name_in("en", "李娜", person=True) == "Li Na"
    assert name_in("en", "神经内科") == "Shenjing Neike"
    assert name_in("en", "心血管内科", "Cardiology") == "Cardiology"
    assert name_in("zh", "心血管内科", "Cardiology") == "心血管内科"
    assert name_in("en", "dr-nk") == "dr-nk", "a name without Chinese stays as written"


def test_an_english_booking_names_everything_in_english(heart: Services) -> None:
    chat = english_chat(heart, "openid-en-1")
    assert "Choose a date for Cardiology" in chat.send("Cardiology")
    reply = chat.send("1")
    assert "Dr. Wei Zhang" in reply and "张伟" not in reply, reply
    summary = chat.send("1")
    assert "Heart Hospital, Cardiology, Dr. Wei Zhang" in summary, summary
    done = chat.send("Y")
    assert "Heart Hospital" in done and "Cardiology, Dr. Wei Zhang" in done, done
    assert not any("\u4e00" <= c <= "\u9fff" for c in done.split("\n\n")[0].replace("张*", "")), done
    listed = chat.send("2")
    assert "Heart Hospital Cardiology Dr. Wei Zhang" in listed, listed
    run_worker(heart, burst=True)
    [pushed] = [m["text"] for m in heart.outbox.messages_for("openid-en-1") if m["kind"] == "confirmation"]
    assert "Heart Hospital" in pushed and "Cardiology" in pushed and "Dr. Wei Zhang" in pushed, pushed


def test_a_department_and_doctor_without_english_names_in_pinyin(heart: Services) -> None:
    chat = english_chat(heart, "openid-en-2")
    assert "Choose a date for Shenjing Neike" in chat.send("神经内科"), "the Chinese name still chooses it"
    reply = chat.send("1")
    assert "Li Na" in reply, reply
    summary = chat.send("1")
    assert "Heart Hospital, Shenjing Neike, Li Na" in summary, summary
    chat.send("Y")
    run_worker(heart, burst=True)
    [pushed] = [m["text"] for m in heart.outbox.messages_for("openid-en-2") if m["kind"] == "confirmation"]
    assert "Shenjing Neike" in pushed and "Li Na" in pushed, pushed


def test_the_chinese_conversation_keeps_the_chinese_names(heart: Services) -> None:
    chat = Chat(heart, Channel.wechat, "openid-zh-3")
    chat.send("1")
    chat.verify("张三", "11010519491231002X", "13812345678")
    chat.send("心血管内科")
    assert "张伟" in chat.send("1")
    assert "心脏病医院 心血管内科 张伟" in chat.send("1")


def prompts_of(svc: Services, typed: list[str]) -> list[str]:
    """The prompts ``guahao chat`` showed while ``typed`` was entered (then end of input)."""
    seen: list[str] = []
    lines = iter(typed)

    def read(prompt: str) -> str:
        seen.append(prompt)
        line = next(lines, None)
        if line is None:
            raise EOFError
        return line

    assert run_chat(svc, build_engine(svc), "console-user", read, io.StringIO()) == 0
    return seen


def test_the_terminal_prompt_speaks_the_conversation_language(heart: Services) -> None:
    assert prompts_of(heart, ["菜单", "English", "menu", "中文"]) == ["你> ", "你> ", "you> ", "you> ", "你> "]
