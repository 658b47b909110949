"""The seams of the release lottery, the waitlist and the mainland SMS providers (SPEC §8 "every registrant is told
the outcome (booked with details, or offered the waitlist)", SPEC §9), through the real pipeline on a real
redis-server: losers of a 60-second draw are invited to the slot's waitlist, one reply (候补 / WAIT, on WeChat and
SMS) joins it, a winner's cancellation is offered to the loser who joined, an invitation that lapsed is answered
clearly; and the offer, the rescheduled notice and the lottery outcome go out as the Aliyun templates with their
variables when WeChat cannot reach the patient.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
import redis

import rules
from adapters.sms.webhook import pack, sms_segments
from adapters.sms.webhook import parse as sms_parse
from app.services import build_engine
from app.worker import run_worker
from bot.clock import ManualClock
from bot.config import build_config
from bot.jobs import run_periodic
from bot.patients import account_id
from bot.storage import keys
from dialogs.engine import Engine
from dialogs.message import Channel, Inbound
from tests.mainland_standins import AliyunStandIn
from tests.pii_scan import assert_no_pii
from tests.support import Services, id_number, make_services, patient_name, phone_number
from tests.support import clock as clock_of
from tests.test_lottery import (
    OPENS,
    SLOT,
    add_patients,
    booked_in,
    end_window,
    lottery_outbox,
    lottery_services,
    talk,
)
from tests.test_mainland_sms import CODES, KEY_ID, SECRET, mainland_raw, scan
from tests.wechat_standin import APP_ID, APP_SECRET, running_standin
from texts import text

INVITED = "回复 候补 加入该时段的候补"
_ids = itertools.count(1)


def fits_sms(reply: str) -> bool:
    """The reply as the SMS webhook sends it (paragraphs packed, the menu left off rather than overflowing) fits."""
    return all(sms_segments(message) <= 2 for message in pack(reply.split("\n\n")))


def say(engine: Engine, user: str, typed: str, channel: Channel = Channel.wechat) -> str:
    """One message, as its channel's adapter hands it over (an SMS with the command the webhook reads in it)."""
    command = sms_parse(typed).command if channel == Channel.sms else None
    replies = engine.handle(Inbound(channel, user, typed, f"g{next(_ids)}", command=command))
    return "\n\n".join(o.text for o in replies)


def waiting_ends(svc: Services) -> datetime:
    slot = svc.schedule.slot(SLOT)
    assert slot is not None
    policy = svc.store.policy_for(slot.hospital)
    return rules.waiting_ends(policy, slot.facts(policy.tz))


def test_losers_are_invited_one_reply_joins_and_a_winners_cancellation_is_offered_to_them(
    redis_db: redis.Redis,
) -> None:
    svc = lottery_services(redis_db)
    pids = add_patients(svc, 6)
    engine = build_engine(svc)
    for n in pids:
        assert "已登记抽签" in talk(engine, f"openid-{n}")
    end_window(svc, capacity=2)  # 6 registrants, 2 places
    assert run_periodic(svc).lottery_told == 6
    booked = booked_in(svc)
    winners = {a.pid for a in booked}
    losers = [n for n, pid in pids.items() if pid not in winners]
    assert len(booked) == 2 and len(losers) == 4

    told = {m["to"]: m["text"] for m in lottery_outbox(svc)}
    for n in losers:
        notice = told[f"openid-{n}"]
        assert "未抽中" in notice and INVITED in notice and sms_segments(notice) <= 2, notice
    assert not any(INVITED in told[f"openid-{n}"] for n in pids if n not in losers), "winners are not invited"
    run_periodic(svc)  # telling again (a retried tick) neither invites nor tells twice
    assert len(lottery_outbox(svc)) == 6

    first, second, lapsing, asking = (f"openid-{n}" for n in losers)
    # 我的候补 lists; it never joins
    assert "您目前没有候补" in say(engine, asking, "我的候补")
    # the notice's word joins, with one reply
    joined = say(engine, first, "候补")
    assert "已加入候补" in joined and "排第1位" in joined, joined
    assert "排第2位" in say(engine, second, "候补")
    # the invitation answered, the same word lists again
    assert "您的候补(1个)" in say(engine, first, "候补")

    # a winner cancels: the freed place is held for the first loser who joined, who claims it with Y
    svc.booking.cancel(booked[0].serial, "patient:wechat")
    run_worker(svc, burst=True)  # the periodic tick offers it, the job pushes it
    offers = [m for m in svc.outbox.messages_for(first) if m["kind"] == "offer"]
    assert len(offers) == 1 and "回复 Y" in offers[0]["text"]
    assert not [m for m in svc.outbox.messages_for(second) if m["kind"] == "offer"]
    claimed = say(engine, first, "Y")
    assert "候补成功" in claimed and len(booked_in(svc)) == 2, claimed

    # waiting for the slot ended: an invitation not answered by then is answered clearly, once
    clock_of(svc).set(waiting_ends(svc) + timedelta(minutes=1))
    lapsed = say(engine, lapsing, "候补")
    assert "候补邀请已于" in lapsed and "截止" in lapsed and "已加入候补" not in lapsed, lapsed
    assert "您目前没有候补" in say(engine, lapsing, "候补")
    assert_no_pii(svc.redis, [patient_name(n) for n in pids] + [id_number(n) for n in pids])


def test_an_sms_loser_joins_with_wait_and_a_place_left_for_sale_goes_to_the_confirmation(
    redis_db: redis.Redis,
) -> None:
    svc = lottery_services(redis_db, lottery_window_seconds=60)
    phones = {n: "+86" + phone_number(n) for n in (1, 2, 3)}
    pids = {n: svc.patient(n, channel="sms", user=phone)[1].pid for n, phone in phones.items()}
    engine = build_engine(svc)
    for phone in phones.values():
        assert "已登记抽签" in talk(engine, phone, ("预约", "1", "内科", "1", "1", "Y"), Channel.sms)
    say(engine, phones[3], "English", Channel.sms)
    end_window(svc, capacity=1)
    run_periodic(svc)
    told = {m["to"]: m for m in lottery_outbox(svc)}
    [winner] = booked_in(svc)
    losers = [n for n in phones if pids[n] != winner.pid]
    assert len(losers) == 2
    for n in losers:
        message = told[phones[n]]
        assert message["channel"] == "sms" and sms_segments(message["text"]) <= 2, message
        assert INVITED in message["text"] or "Reply WAIT to join the waitlist" in message["text"]

    # the SMS command WAIT (候补) with an invitation pending joins that slot's waitlist
    one, other = losers
    joined = say(engine, phones[one], "WAIT" if one == 3 else "候补", Channel.sms)
    assert ("已加入候补" in joined or "On the waitlist" in joined) and fits_sms(joined), joined
    # the slot gets a place for sale (staff add one): the other loser's reply goes to the booking's confirmation
    svc.redis.hset(keys.slot(SLOT), "capacity", 3)
    available = say(engine, phones[other], "WAIT" if other == 3 else "候补", Channel.sms)
    assert "不必候补" in available or "no need to wait" in available, available
    assert fits_sms(available)
    booked = say(engine, phones[other], "Y", Channel.sms)
    assert "预约成功" in booked or "Booked" in booked, booked
    assert len(booked_in(svc)) == 2


def test_the_offer_the_rescheduled_notice_and_the_lottery_outcome_go_as_aliyun_templates(
    redis_db: redis.Redis,
) -> None:
    """WeChat cannot reach the patients (45015): each notice falls back to the SMS template of its kind, its
    variables filled from the notice's facts (never its free text)."""
    with running_standin() as wechat, AliyunStandIn(KEY_ID, SECRET) as aliyun:
        raw = mainland_raw("aliyun", aliyun.base_url)
        raw["wechat"] = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": "wechat-token"}
        raw["wechat"] |= {"api_base_url": wechat.base_url, "reminder_template_id": "TEMPLATE-1"}
        raw["policy"] = {"release_mode": "lottery", "lottery_window_seconds": 60}
        svc = make_services(redis_db, build_config(raw), ManualClock(OPENS + timedelta(seconds=5)))
        svc.schedule.import_csv(
            "hospital,department,doctor,level,date,start,end,capacity,fee\n"
            f"h1,nk,dr-nk,general,{SLOT.split('|')[3]},08:00,12:00,1,5\n"
            f"h1,nk,dr-nk,general,{SLOT.split('|')[3]},14:00,17:00,5,5\n"
        )
        engine = build_engine(svc)
        pids = {n: svc.patient(n)[1].pid for n in (1, 2)}
        for n in pids:
            assert "已登记抽签" in talk(engine, f"openid-{n}")
        for _ in range(2):  # the winner's notice and the loser's
            wechat.fail_next(45015)
        end_window(svc)
        run_periodic(svc)
        by_code = {code: kind for kind, code in CODES["aliyun"].items()}
        sent = [(by_code[s.template], s) for s in aliyun.sent]
        assert sorted(kind for kind, _ in sent) == ["lottery", "lottery"], sent
        results = sorted(dict(s.variables)["result"] for _, s in sent if isinstance(s.variables, dict))
        assert results == ["已约到", "未约到,回复候补排队"], results
        for _, s in sent:
            assert isinstance(s.variables, dict) and s.variables["department"] == "内科"
            assert s.variables["date"] == "11月30日" and s.variables["patient"].endswith("*")

        # the loser joins; the winner moves to the afternoon (rescheduled notice), which frees the place (offer)
        [winner] = booked_in(svc)
        loser = next(n for n, pid in pids.items() if pid != winner.pid)
        assert "已加入候补" in say(engine, f"openid-{loser}", "候补")
        afternoon = SLOT.replace("08:00", "14:00")
        moved = svc.reschedule.move(winner.serial, afternoon, "patient:wechat")
        wechat.fail_next(45015)
        assert svc.reschedule.send_notice(moved.serial, winner.serial).channel == "sms"
        svc.waitlist.offer_pending()
        [entry] = svc.waitlist.of_account(account_id(svc.box, "wechat", f"openid-{loser}"))
        assert entry.status == "offered" and entry.hold_until is not None
        wechat.fail_next(45015)
        assert svc.waitlist_push.send(entry.id).channel == "sms"

        rescheduled, offer = aliyun.sent[2:]
        assert rescheduled.template == CODES["aliyun"]["rescheduled"]
        assert isinstance(rescheduled.variables, dict)
        assert rescheduled.variables["serial"] == moved.serial and rescheduled.variables["time"] == "14:00-17:00"
        assert rescheduled.variables["queue"] == str(moved.queue_no)
        assert offer.template == CODES["aliyun"]["offer"] and isinstance(offer.variables, dict)
        until = entry.hold_until.astimezone(svc.store.policy_for("h1").tz)
        assert offer.variables == {
            "date": "11月30日",
            "time": "08:00-12:00",
            "department": "内科",
            "deadline": f"{until.month}月{until.day}日{until:%H:%M}",
        }
        scan("aliyun", aliyun.sent)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_losing_notice_with_its_invitation_fits_two_sms_segments_with_the_longest_names(lang: str) -> None:
    hospital = "北京儿童示范医院" if lang == "zh" else "Beijing Children's Model Hospital"
    day = "11月30日" if lang == "zh" else "30 Nov"
    deadline = "11月29日 周日 15:00" if lang == "zh" else "Sun 29 Nov 15:00"
    lost = text(lang, "notice.lottery_not_drawn", hospital=hospital, day=day, position=12345)
    notice = lost + "\n" + text(lang, "notice.lottery_invite", deadline=deadline)
    assert sms_segments(notice) <= 2, (sms_segments(notice), notice)
    assert ("回复 候补" if lang == "zh" else "Reply WAIT") in notice


def test_no_invitation_where_the_hospital_has_no_waitlist_and_none_twice(redis_db: redis.Redis) -> None:
    svc = lottery_services(redis_db, waitlist_max_entries=0)
    pids = add_patients(svc, 3)
    engine = build_engine(svc)
    for n in pids:
        assert "已登记抽签" in talk(engine, f"openid-{n}")
    end_window(svc, capacity=1)
    run_periodic(svc)
    told = [m["text"] for m in lottery_outbox(svc)]
    assert len(told) == 3 and sum("未抽中" in t for t in told) == 2
    assert not any(INVITED in t for t in told), "nothing is promised where there is no waitlist"
    assert not svc.redis.keys(keys.lottery_invites("*"))
    assert "您目前没有候补" in say(engine, "openid-1", "候补")  # the word lists as ever

    # where there is one, inviting again (a notice sent again after a crash) keeps one invitation
    acct = account_id(svc.box, "wechat", "openid-1")
    outcome = {"pid": pids[1], "slot": SLOT, "reason": "not_drawn", "acct": acct}
    assert svc.lottery.offer_waitlist(outcome, "zh") is None
    svc2 = lottery_services(redis_db)
    assert svc2.lottery.offer_waitlist(outcome, "zh") and svc2.lottery.offer_waitlist(outcome, "en")
    [invitation] = svc2.lottery.invitations(acct)
    assert (invitation.pid, invitation.slot_id) == (pids[1], SLOT)
    assert svc2.lottery.offer_waitlist({**outcome, "reason": "flagged"}, "zh") is None
