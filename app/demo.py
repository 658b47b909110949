"""Demo data for ``guahao serve --demo``: two hospitals and a week of slots from today, loaded idempotently.

The first hospital (beijing-114 rules) has four departments with general and expert slots every morning and
afternoon; the second closes free cancellation at 14:00 the day before. The children's departments (儿科, 小儿内科,
小儿外科) see patients aged 14 and under (RULES §9). Re-running the demo re-imports the same rows (capacity updates
only), so nothing is duplicated and booked appointments stay.

``guahao serve --demo`` also points the calendar links of confirmations at itself (:func:`with_demo_calendar`) when
``server.calendar_base_url`` is set nowhere: the file and the environment win, as everywhere under ``--demo``.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from bot.config import Config

CALENDAR_BASE_KEY = "server.calendar_base_url"

DEMO_HOSPITALS: list[dict[str, Any]] = [
    {
        "id": "bjdyyy",
        "name": "北京第一人民医院",
        "name_en": "Beijing First People's Hospital",
        "address": "北京市西城区示例路1号",
        "phone": "010-12345678",
        "departments": [
            {"id": "xnk", "name": "心血管内科", "name_en": "Cardiology"},
            {"id": "sjnk", "name": "神经内科", "name_en": "Neurology"},
            {"id": "ptwk", "name": "普通外科", "name_en": "General Surgery"},
            {"id": "ek", "name": "儿科", "name_en": "Paediatrics", "age_max": 14},
            {"id": "pfk", "name": "皮肤科", "name_en": "Dermatology"},
            # RULES §9: departments for one sex, as the ID number's 17th digit tells it
            {"id": "fck", "name": "妇产科", "name_en": "Obstetrics and Gynaecology", "sex": "female"},
            {"id": "nank", "name": "男科", "name_en": "Andrology", "sex": "male"},
        ],
    },
    {
        "id": "bjetyy",
        "name": "北京儿童示范医院",
        "name_en": "Beijing Children's Model Hospital",
        "address": "北京市东城区示例街2号",
        "phone": "010-87654321",
        "policy": {"cancel_deadline": "14:00"},
        "departments": [
            {"id": "xek", "name": "小儿内科", "name_en": "Paediatric Medicine", "age_max": 14},
            {"id": "xwk", "name": "小儿外科", "name_en": "Paediatric Surgery", "age_max": 14},
        ],
    },
]

# department -> (general doctor, expert doctor)
_DOCTORS = {
    "xnk": (("zhang-wei", "张伟"), ("li-na", "李娜")),
    "sjnk": (("wang-fang", "王芳"), ("liu-qiang", "刘强")),
    "ptwk": (("chen-jie", "陈杰"), ("yang-min", "杨敏")),
    "ek": (("zhao-li", "赵丽"), ("huang-lei", "黄磊")),
    "pfk": (("zhou-jing", "周静"), ("wu-tao", "吴涛")),
    "fck": (("he-jing", "何静"), ("song-qian", "宋倩")),
    "nank": (("guo-qiang", "郭强"), ("lin-feng", "林峰")),
    "xek": (("xu-yan", "徐燕"), ("sun-hao", "孙浩")),
    "xwk": (("ma-chao", "马超"), ("zhu-xia", "朱霞")),
}
_SESSIONS = (("08:00", "12:00"), ("13:30", "17:00"))


def demo_config_layer() -> dict[str, Any]:
    """The ``--demo`` layer of the configuration (below the file and the environment, so it only fills gaps): the
    hospitals, the simulator, console senders, and a staff token made now for this process (the simulator may show
    it: nobody configured it)."""
    return {
        "hospitals": DEMO_HOSPITALS,
        "server": {"simulator": True},
        "sms": {"provider": "console"},
        "wechat": {"push": "console"},
        "security": {"staff_tokens": [{"name": "demo", "token": "demo-" + secrets.token_urlsafe(24)}]},
    }


def with_demo_calendar(config: Config, host: str, port: int) -> Config:
    """``config`` with ``server.calendar_base_url`` filled for a demo served on ``host:port`` — only when no layer
    set it (an operator's explicit empty value stays: no links). ``server.public_url``, when set, is where patients
    reach this server, so the links use it; else the listening address (a wildcard one as loopback)."""
    if config.source(CALENDAR_BASE_KEY) != "default":
        return config
    base = config.server.public_url.rstrip("/") or f"http://{_reachable(host)}:{port}"
    return replace(
        config,
        server=replace(config.server, calendar_base_url=base),
        sources={**config.sources, CALENDAR_BASE_KEY: "demo"},
    )


def _reachable(host: str) -> str:
    """The host part of a URL to this machine's server listening on ``host``."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host  # a name: as the operator wrote it
    if address.is_unspecified:  # 0.0.0.0 / :: listen everywhere: loopback reaches them from here
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def demo_schedule_csv(today: date, days: int = 7) -> str:
    """General and expert slots, mornings and afternoons, for tomorrow and the following ``days`` days."""
    rows = ["hospital,department,doctor,level,date,start,end,capacity,fee,doctor_name"]
    for offset in range(0, days + 1):
        day = (today + timedelta(days=offset)).isoformat()
        for hospital in DEMO_HOSPITALS:
            for department in hospital["departments"]:
                (general_id, general_name), (expert_id, expert_name) = _DOCTORS[department["id"]]
                for start, end in _SESSIONS:
                    rows.append(
                        f"{hospital['id']},{department['id']},{general_id},general,{day},{start},{end},30,5,{general_name}"
                    )
                    rows.append(
                        f"{hospital['id']},{department['id']},{expert_id},expert,{day},{start},{end},20,50,{expert_name}"
                    )
    return "\n".join(rows) + "\n"
