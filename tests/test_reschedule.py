"""改约 (SPEC §8, RULES §11) on a real redis-server: the terms, the one-step move, reminders moved, the old place to
its waiters, and a move racing a booking of the new slot's last place (real threads)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from datetime import timedelta

import pytest

import rules
from app.worker import run_worker
from bot.audit import read_audit
from bot.booking import BookingRefused
from bot.reschedule import RescheduleRefused
from bot.storage import keys
from dialogs.message import Channel
from tests.dialog_support import Chat
from tests.support import NOW, Services, clock, slot_of

TOMORROW = NOW.date() + timedelta(days=1)
MORNING = slot_of("h1", "nk", TOMORROW)
AFTERNOON = slot_of("h1", "nk", TOMORROW, afternoon=True)
Status = rules.AppointmentStatus


def booked(svc: Services, n: int, slot: str = MORNING, user: str | None = None) -> str:
    acct, patient = svc.patient(n, user=user)
    appointment = svc.booking.book(patient.pid, acct, "wechat", slot)
    svc.reminders.on_booked(appointment, user or f"openid-{n}", "wechat")
    return appointment.serial


def test_the_quote_states_the_fee_difference(svc: Services) -> None:
    serial = booked(svc, 1)
    quote = svc.reschedule.quote(serial, AFTERNOON)
    assert quote.decision.allowed  # the same department the same day: counted as if the old one did not exist
    assert (quote.difference.to_pay_cents, quote.difference.refund_cents) == (4500, 0)
    back = svc.reschedule.quote(svc.reschedule.move(serial, AFTERNOON, "patient:wechat").serial, MORNING)
    assert (back.difference.to_pay_cents, back.difference.refund_cents) == (0, 4500)


def test_a_move_is_one_step(svc: Services) -> None:
    serial = booked(svc, 1)
    old_reminders = svc.reminders.pending(serial)
    assert old_reminders
    moved = svc.reschedule.move(serial, AFTERNOON, "patient:wechat")
    old = svc.store.require(serial)
    assert moved.status == Status.booked and moved.slot == AFTERNOON and moved.serial != serial
    assert old.status == Status.cancelled
    assert svc.redis.hget(keys.appointment(serial), "rescheduled_to") == moved.serial.encode()
    assert svc.schedule.slot(MORNING).taken == 0  # type: ignore[union-attr]
    assert svc.schedule.slot(AFTERNOON).taken == 1  # type: ignore[union-attr]
    assert svc.reminders.pending(serial) == {}, "the old reminders never fire"
    assert set(svc.reminders.pending(moved.serial)) == set(old_reminders)
    assert svc.redis.zscore(keys.NO_SHOW_DUE, serial) is None
    actions = [(e.action, e.serial) for e in read_audit(svc.redis)][-2:]
    assert actions == [("rescheduled", serial), ("booked", moved.serial)]
    assert svc.standing.standing(moved.pid).no_shows_this_year == 0
    assert not svc.redis.zcard(keys.patient_violations(moved.pid)), "never a violation"
    assert svc.notifier.address(moved.serial) == svc.notifier.address(serial)


def test_the_new_slot_must_have_a_place(svc: Services) -> None:
    serial = booked(svc, 1)
    svc.redis.hset(keys.slot(AFTERNOON), "capacity", 0)
    with pytest.raises(RescheduleRefused) as refused:
        svc.reschedule.move(serial, AFTERNOON, "patient:wechat")
    assert refused.value.decision.rule == "slot_full"
    assert svc.store.require(serial).status == Status.booked


def test_no_move_after_the_cancellation_deadline(svc: Services) -> None:
    serial = booked(svc, 1)
    clock(svc).set(NOW.replace(hour=15))
    with pytest.raises(RescheduleRefused) as refused:
        svc.reschedule.move(serial, AFTERNOON, "patient:wechat")
    assert refused.value.decision.rule == "reschedule_deadline_passed"
    assert not svc.reschedule.movable(svc.store.require(serial)).allowed


def test_only_ones_own_appointment_moves(svc: Services) -> None:
    serial = booked(svc, 1)
    _, other = svc.patient(2)
    with pytest.raises(Exception, match="no appointment"):
        svc.reschedule.move(serial, AFTERNOON, "patient:wechat", pids=[other.pid])


def test_the_old_place_goes_to_its_waitlist(svc: Services) -> None:
    serial = booked(svc, 1)
    svc.redis.hset(keys.slot(MORNING), "capacity", 1)
    acct, waiter = svc.patient(2)
    entry = svc.waitlist.join(waiter.pid, acct, "wechat", "openid-2", MORNING).entry
    svc.reschedule.move(serial, AFTERNOON, "patient:wechat")
    assert svc.schedule.slot(MORNING).wl_free == 1  # type: ignore[union-attr]
    svc.waitlist.offer_pending()
    assert svc.waitlist.get(entry.id).status == "offered"  # type: ignore[union-attr]


DELAYS = (0.0, 0.001, 0.003, 0.006, 0.01, 0.03)


@pytest.mark.parametrize("round_", range(12))
def test_a_move_racing_a_booking_of_the_last_place(svc: Services, round_: int) -> None:
    target = slot_of("h1", "wk", TOMORROW + timedelta(days=1 + round_ % 5))
    svc.redis.hset(keys.slot(target), "capacity", 1)
    serial = booked(svc, 1)
    acct, rival = svc.patient(2)
    outcome: dict[str, object] = {}
    barrier = threading.Barrier(2)

    delay = DELAYS[round_ // 2 % len(DELAYS)]

    def move() -> None:
        barrier.wait()
        time.sleep(delay if round_ % 2 else 0)  # odd rounds: the booking ahead; even rounds: the move ahead
        try:
            outcome["moved"] = svc.reschedule.move(serial, target, "patient:wechat")
        except RescheduleRefused as refused:
            outcome["kept"] = refused.decision.rule

    def book() -> None:
        barrier.wait()
        time.sleep(0 if round_ % 2 else delay)
        with contextlib.suppress(BookingRefused):
            outcome["sold"] = svc.booking.book(rival.pid, acct, "wechat", target)

    threads = [threading.Thread(target=move), threading.Thread(target=book)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    old = svc.store.require(serial)
    mine = [a for a in svc.store.of_patient(old.pid) if a.status == Status.booked]
    assert len(mine) == 1, "never both, never neither"
    assert ("moved" in outcome) != ("kept" in outcome)
    assert ("moved" in outcome) != ("sold" in outcome), "the last place went to exactly one"
    assert svc.schedule.slot(target).taken == 1  # type: ignore[union-attr]
    if "moved" in outcome:
        assert old.status == Status.cancelled and mine[0].slot == target
        assert svc.reminders.pending(serial) == {}
    else:
        assert old.status == Status.booked and mine[0].serial == serial and outcome["kept"] == "slot_full"
        assert svc.schedule.slot(MORNING).taken == 1  # type: ignore[union-attr]


def test_reminders_fire_for_the_new_time_only(svc: Services) -> None:
    serial = booked(svc, 1, user="openid-1")
    moved = svc.reschedule.move(serial, AFTERNOON, "patient:wechat")
    for hour in (13, 18, 23):  # the window-end, the day-before and (next day) the before-start reminders
        clock(svc).set(NOW.replace(hour=hour))
        svc.reminders.dispatch_due()
        run_worker(svc, burst=True)
    clock(svc).set(NOW.replace(hour=12) + timedelta(days=1))
    svc.reminders.dispatch_due()
    run_worker(svc, burst=True)
    sent = [m for m in svc.outbox.messages_for("openid-1") if m["kind"] == "reminder"]
    assert sent, "the moved appointment is reminded"
    assert all(moved.serial in m["text"] and serial not in m["text"] for m in sent)
    assert any("14:00" in m["text"] for m in sent)
    rescheduled = [m for m in svc.outbox.messages_for("openid-1") if m["kind"] == "rescheduled"]
    assert len(rescheduled) == 1 and moved.serial in rescheduled[0]["text"] and serial in rescheduled[0]["text"]


SERIAL = re.compile(r"新识别码 (\d{8})")


def test_reschedule_from_my_appointments(svc: Services) -> None:
    serial = booked(svc, 1, user="openid-a")
    chat = Chat(svc, user="openid-a")
    listing = chat.send("2")
    assert f"改约回复「改约 {serial}」" in listing
    dates = chat.send(f"改约 {serial}")
    assert f"改约 {serial}" in dates and "请选择内科的就诊日期" in dates
    slots = chat.send("1")
    assert "08:00" not in slots.split("请选择时段")[-1], "the current slot is not offered"
    confirm = chat.send("1")
    assert "请确认改约" in confirm and "需补挂号费差额 ¥45" in confirm
    done = chat.send("Y")
    found = SERIAL.search(done)
    assert found and "改约成功" in done and "14:00" in done, done
    moved = svc.store.require(found[1])
    assert moved.slot == AFTERNOON and svc.store.require(serial).status == Status.cancelled


def test_reschedule_by_sms_and_declined(svc: Services) -> None:
    phone = "+8613900000001"
    acct, patient = svc.patient(1, channel="sms", user=phone)
    serial = svc.booking.book(patient.pid, acct, "sms", MORNING).serial
    chat = Chat(svc, Channel.sms, phone)
    assert "改约/取消" in chat.send("查询")
    chat.send(f"MOVE {serial}")
    chat.send("1")
    chat.send("1")
    assert f"原预约 {serial} 保留" in chat.send("N")
    assert svc.store.require(serial).status == Status.booked


def test_a_move_losing_the_last_place_keeps_the_old_one(svc: Services) -> None:
    serial = booked(svc, 1, user="openid-a")
    chat = Chat(svc, user="openid-a")
    chat.send(f"改约 {serial}")
    chat.send("1")
    chat.send("1")
    svc.redis.hset(keys.slot(AFTERNOON), "capacity", 0)
    reply = chat.send("Y")
    assert f"所选时段刚被约满,原预约 {serial} 保留" in reply
    assert svc.store.require(serial).status == Status.booked


def test_too_late_to_move(svc: Services) -> None:
    serial = booked(svc, 1, user="openid-a")
    clock(svc).set(NOW.replace(hour=16))
    reply = Chat(svc, user="openid-a").send(f"改约 {serial}")
    assert "不能改约" in reply and "15:00" in reply
