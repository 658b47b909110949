"""The waitlist service (候补, SPEC §8, RULES §10) on a real redis-server: joining, offers, claims, expiries, skips,
leaving, added capacity, the end of waiting, and the offer's push into the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

import rules
from adapters.sms.webhook import sms_segments
from app.worker import run_worker
from bot.booking import BookingRefused
from bot.errors import NotFoundError
from bot.storage import keys
from bot.waitlist import Entry, OfferGone, PlaceAvailable, WaitlistRefused
from tests.pii_scan import assert_no_pii
from tests.support import NOW, Services, clock, id_number, patient_name, phone_number, slot_of

TOMORROW = NOW.date() + timedelta(days=1)
SMALL = f"h1|nk|dr-w|{TOMORROW}|09:00"
ROW = f"h1,nk,dr-w,expert,{TOMORROW},09:00,10:00,{{capacity}},50\n"
HEADER = "hospital,department,doctor,level,date,start,end,capacity,fee\n"


@pytest.fixture
def full(svc: Services) -> list[str]:
    """A 2-place expert slot tomorrow 09:00, booked full by patients 1 and 2; their serials."""
    svc.schedule.import_csv(HEADER + ROW.format(capacity=2))
    return [book(svc, n, SMALL) for n in (1, 2)]


def book(svc: Services, n: int, slot: str) -> str:
    acct, patient = svc.patient(n)
    return svc.booking.book(patient.pid, acct, "wechat", slot).serial


def join(svc: Services, n: int, slot: str = SMALL) -> Entry:
    acct, patient = svc.patient(n)
    return svc.waitlist.join(patient.pid, acct, "wechat", f"openid-{n}", slot).entry


def acct_of(svc: Services, n: int) -> str:
    return svc.patient(n)[0]


def slot_counts(svc: Services, slot: str = SMALL) -> tuple[int, int, int, int]:
    stored = svc.schedule.slot(slot)
    assert stored is not None
    return stored.taken, stored.wl_free, stored.wl_held, stored.places_left


def status(svc: Services, entry: Entry) -> str:
    found = svc.waitlist.get(entry.id)
    assert found is not None
    return found.status


def test_joining_a_full_slot_queues_in_order(svc: Services, full: list[str]) -> None:
    acct, patient = svc.patient(10)
    first = svc.waitlist.join(patient.pid, acct, "wechat", "openid-10", SMALL)
    acct, patient = svc.patient(11)
    second = svc.waitlist.join(patient.pid, acct, "sms", "+8613900000011", SMALL)
    assert (first.position, second.position) == (1, 2)
    assert first.entry.status == "waiting" and first.entry.hospital == "h1" and first.entry.start == "09:00"
    assert [e.id for e in svc.waitlist.of_account(acct)] == [second.entry.id]
    assert svc.waitlist.address(second.entry.id) == ("sms", "+8613900000011")


def test_a_slot_with_places_is_booked_not_waited_for(svc: Services) -> None:
    with pytest.raises(PlaceAvailable):
        join(svc, 1, slot_of("h1", "nk", TOMORROW))


def test_joining_checks_the_booking_limits(svc: Services, full: list[str]) -> None:
    book(svc, 10, slot_of("h1", "nk", TOMORROW))  # the same department that day already
    with pytest.raises(WaitlistRefused) as refused:
        join(svc, 10)
    assert refused.value.decision.rule == "limit_same_day_department"


def test_once_per_slot_and_at_most_three(svc: Services, full: list[str]) -> None:
    join(svc, 10)
    with pytest.raises(WaitlistRefused) as again:
        join(svc, 10)
    assert again.value.decision.rule == "waitlist_already"
    others = [f"h1|wk|dr-w|{TOMORROW}|09:00", f"h1|ek|dr-w|{TOMORROW}|09:00", f"h1|wk|dr-w|{TOMORROW}|11:00"]
    csv = "".join(f"h1,{s.split('|')[1]},dr-w,general,{TOMORROW},{s[-5:]},{s[-5:-3]}:30,1,5\n" for s in others)
    svc.schedule.import_csv(HEADER + csv)
    for n, slot in enumerate(others, start=20):
        book(svc, n, slot)
    join(svc, 10, others[0])
    join(svc, 10, others[1])
    with pytest.raises(WaitlistRefused) as fourth:
        join(svc, 10, others[2])
    assert fourth.value.decision.rule == "waitlist_max"


def test_a_cancellation_holds_the_place_for_the_first_waiter(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    svc.booking.cancel(full[0], "patient:wechat")
    assert slot_counts(svc) == (1, 1, 0, 0)  # freed for the waiters, not for sale
    with pytest.raises(BookingRefused):
        book(svc, 30, SMALL)
    assert svc.waitlist.offer_pending() == 1
    assert slot_counts(svc) == (1, 0, 1, 0)
    offered = svc.waitlist.get(first.id)
    assert offered is not None and offered.status == "offered"
    assert offered.hold_until == NOW + timedelta(minutes=15)
    assert status(svc, second) == "waiting"
    assert svc.waitlist.pending_offer(acct_of(svc, 10)) == offered
    assert svc.waitlist.pending_offer(acct_of(svc, 11)) is None


def test_a_claim_in_time_books_the_held_place(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    clock(svc).advance(timedelta(minutes=14))
    appointment = svc.waitlist.claim(acct_of(svc, 10), first.id)
    assert appointment.status == rules.AppointmentStatus.booked and appointment.slot == SMALL
    assert appointment.queue_no == 3
    assert slot_counts(svc) == (2, 0, 0, 0)
    claimed = svc.waitlist.get(first.id)
    assert claimed is not None and (claimed.status, claimed.serial) == ("booked", appointment.serial)
    assert svc.waitlist.live_of_patient(appointment.pid) == []
    with pytest.raises(OfferGone):
        svc.waitlist.claim(acct_of(svc, 10), first.id)  # a second Y books nothing more


def test_a_lapsed_hold_goes_to_the_next_waiter(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    clock(svc).advance(timedelta(minutes=15))
    with pytest.raises(OfferGone):
        svc.waitlist.claim(acct_of(svc, 10), first.id)
    assert status(svc, first) == "expired"
    assert status(svc, second) == "offered"  # the claim passed it on at once
    assert slot_counts(svc) == (1, 0, 1, 0)


def test_the_periodic_duty_expires_holds(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    clock(svc).advance(timedelta(minutes=16))
    tick = svc.waitlist.tick()
    assert (tick.expired, tick.offered) == (1, 1)
    assert (status(svc, first), status(svc, second)) == ("expired", "offered")
    clock(svc).advance(timedelta(minutes=16))
    assert svc.waitlist.tick().expired == 1
    assert slot_counts(svc) == (1, 0, 0, 1)  # nobody left waiting: back on sale


def test_a_waiter_who_may_no_longer_take_it_is_skipped_with_no_place_lost(svc: Services, full: list[str]) -> None:
    skipped, next_one = join(svc, 10), join(svc, 11)
    book(svc, 10, slot_of("h1", "nk", TOMORROW))  # booked that day elsewhere meanwhile
    svc.booking.cancel(full[0], "patient:wechat")
    assert svc.waitlist.offer_pending() == 1
    ended = svc.waitlist.get(skipped.id)
    assert ended is not None and (ended.status, ended.reason) == ("expired", "limit_same_day_department")
    assert status(svc, next_one) == "offered"
    assert slot_counts(svc) == (1, 0, 1, 0)


def test_a_skipped_waiter_is_told_once_why(svc: Services, full: list[str]) -> None:
    skipped, next_one = join(svc, 10), join(svc, 11)
    book(svc, 10, slot_of("h1", "nk", TOMORROW))  # booked that day elsewhere meanwhile
    svc.booking.cancel(full[0], "patient:wechat")
    assert svc.waitlist_push.send_skip_notice(next_one.id).skipped == "not_skipped"
    run_worker(svc, burst=True)  # the tick offers the place (skipping patient 10), the jobs push
    [told] = svc.outbox.messages_for("openid-10")
    assert told["kind"] == "waitlist_skipped" and told["channel"] == "wechat"
    assert "候补未成功" in told["text"] and "09:00" in told["text"] and "同日已有预约" in told["text"]
    assert [m["kind"] for m in svc.outbox.messages_for("openid-11")] == ["offer"]
    clock(svc).advance(timedelta(minutes=3))
    run_worker(svc, burst=True)
    assert len(svc.outbox.messages_for("openid-10")) == 1, "told once"
    assert svc.redis.zcard(keys.WAITLIST_UNSENT) == 0
    assert (status(svc, skipped), status(svc, next_one)) == ("expired", "offered")


def test_a_skip_notice_whose_push_was_lost_is_pushed_again_in_english(svc: Services, full: list[str]) -> None:
    acct, patient = svc.patient(10, channel="sms", user="+8613900000010")
    svc.patients.set_account_language(acct, "en")
    entry = svc.waitlist.join(patient.pid, acct, "sms", "+8613900000010", SMALL).entry
    svc.booking.book(patient.pid, acct, "sms", slot_of("h1", "nk", TOMORROW))
    queue, svc.waitlist.queue = svc.waitlist.queue, None  # the process dies between the skip and queueing the push
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    svc.waitlist.queue = queue
    assert status(svc, entry) == "expired"
    clock(svc).advance(timedelta(minutes=3))
    run_worker(svc, burst=True)
    [told] = svc.outbox.messages_for("+8613900000010")
    assert told["kind"] == "waitlist_skipped" and told["channel"] == "sms"
    assert told["text"].startswith("[Waitlist] ") and "already has an appointment that day" in told["text"]
    assert sms_segments(told["text"]) <= 2


def test_a_skip_notice_never_sent_is_given_up_a_day_after_the_skip(svc: Services, full: list[str]) -> None:
    """An offer's push ends with its hold; a skip notice has no such end, so one that could not be sent (its push
    lost, or refused again and again) is tried for a day, not for as long as its entry lives."""
    acct, patient = svc.patient(10, channel="sms", user="+8613900000010")
    entry = svc.waitlist.join(patient.pid, acct, "sms", "+8613900000010", SMALL).entry
    svc.booking.book(patient.pid, acct, "sms", slot_of("h1", "nk", TOMORROW))
    queue, svc.waitlist.queue = svc.waitlist.queue, None  # the push is lost
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    svc.waitlist.queue = queue
    assert status(svc, entry) == "expired" and svc.redis.zcard(keys.WAITLIST_UNSENT) == 1
    clock(svc).advance(timedelta(days=1, minutes=3))
    assert svc.waitlist.resend_unsent() == 0
    run_worker(svc, burst=True)
    assert svc.outbox.messages_for("+8613900000010") == []
    assert svc.redis.zcard(keys.WAITLIST_UNSENT) == 0


def test_skipping_the_last_waiter_puts_the_place_back_on_sale(svc: Services, full: list[str]) -> None:
    join(svc, 10)
    book(svc, 10, slot_of("h1", "nk", TOMORROW))
    svc.booking.cancel(full[0], "patient:wechat")
    assert svc.waitlist.offer_pending() == 0
    assert slot_counts(svc) == (1, 0, 0, 1)
    book(svc, 30, SMALL)


def test_a_claim_refused_by_a_limit_passes_the_place_on(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    book(svc, 10, slot_of("h1", "nk", TOMORROW))
    with pytest.raises(WaitlistRefused) as refused:
        svc.waitlist.claim(acct_of(svc, 10), first.id)
    assert refused.value.decision.rule == "limit_same_day_department"
    assert (status(svc, first), status(svc, second)) == ("expired", "offered")
    assert slot_counts(svc) == (1, 0, 1, 0)


def test_only_the_offered_account_claims(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    with pytest.raises(OfferGone):
        svc.waitlist.claim(acct_of(svc, 11), first.id)
    assert status(svc, first) == "offered"


def test_leaving(svc: Services, full: list[str]) -> None:
    first, second, third = join(svc, 10), join(svc, 11), join(svc, 12)
    with pytest.raises(NotFoundError):
        svc.waitlist.leave(acct_of(svc, 11), first.id)
    assert svc.waitlist.leave(acct_of(svc, 11), second.id).status == "left"
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    assert svc.waitlist.leave(acct_of(svc, 10), first.id).status == "left"  # an offered one passes it on
    assert status(svc, third) == "offered"
    assert slot_counts(svc) == (1, 0, 1, 0)


def test_staff_adding_capacity_offers_the_new_places_first(svc: Services, full: list[str]) -> None:
    first, second, third = join(svc, 10), join(svc, 11), join(svc, 12)
    svc.schedule.import_csv(HEADER + ROW.format(capacity=4))
    assert (status(svc, first), status(svc, second), status(svc, third)) == ("offered", "offered", "waiting")
    assert slot_counts(svc) == (2, 0, 2, 0)
    svc.schedule.import_csv(HEADER + ROW.format(capacity=6))  # more places than waiters: the rest for sale
    assert status(svc, third) == "offered"
    assert slot_counts(svc) == (2, 0, 3, 1)


def test_waiting_ends_at_the_cancellation_deadline(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    deadline = NOW.replace(hour=15)  # 15:00 the day before the visit
    clock(svc).set(deadline - timedelta(minutes=5))
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    offered = svc.waitlist.get(first.id)
    assert offered is not None and offered.hold_until == deadline  # the hold never outlasts the deadline
    clock(svc).set(deadline)
    tick = svc.waitlist.tick()
    assert tick.expired == 1
    assert slot_counts(svc) == (1, 0, 0, 1)  # left to the hospital's desk
    assert svc.redis.zcard(keys.WAITLIST_ENDS) == 0
    with pytest.raises(WaitlistRefused) as closed:
        join(svc, 11)
    assert closed.value.decision.rule in ("waitlist_closed", "window_past")


def test_the_deadline_expires_waiting_entries(svc: Services, full: list[str]) -> None:
    waiting = join(svc, 10)
    clock(svc).set(NOW.replace(hour=15))
    assert svc.waitlist.close_ended() == 1
    ended = svc.waitlist.get(waiting.id)
    assert ended is not None and (ended.status, ended.reason) == ("expired", "waitlist_closed")
    assert svc.waitlist.live_of_patient(ended.pid) == []


def test_the_offer_goes_to_the_outbox_on_the_channel_joined(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    acct, patient = svc.patient(11)
    by_sms = svc.waitlist.join(patient.pid, acct, "sms", "13900000011", SMALL).entry
    svc.schedule.import_csv(HEADER + ROW.format(capacity=4))
    assert svc.waitlist_push.send(first.id).ok
    assert svc.waitlist_push.send(first.id).ok  # a retried job sends nothing twice
    assert svc.waitlist_push.send(by_sms.id).channel == "sms"
    [offer] = [m for m in svc.outbox.messages_for("openid-10") if m["kind"] == "offer"]
    assert offer["channel"] == "wechat"
    assert "09:00" in offer["text"] and "23:23" not in offer["text"] and "08:15" in offer["text"]
    assert "回复 Y" in offer["text"]
    [sms] = [m for m in svc.outbox.messages_for("+8613900000011") if m["kind"] == "offer"]
    assert sms["to"] == "+8613900000011"


def test_an_offer_no_longer_held_is_not_pushed(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    assert svc.waitlist_push.send(first.id).skipped == "not_offered"
    assert svc.waitlist_push.send("nope").skipped == "gone"


def test_the_staff_listing(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    listed = svc.waitlist.listing(day=TOMORROW.isoformat(), hospital="h1", department="nk")
    assert [(e.id, n, e.status) for e, n in listed] == [(first.id, 1, "offered"), (second.id, 2, "waiting")]
    assert svc.waitlist.listing(hospital="h2") == []
    assert len(svc.waitlist.listing()) == 2


def test_no_personal_data_in_clear_in_the_waitlist(svc: Services, full: list[str]) -> None:
    acct, patient = svc.patient(11, channel="sms", user="+8613900000011")
    svc.waitlist.join(patient.pid, acct, "sms", "+8613900000011", SMALL)
    join(svc, 10)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    svc.waitlist_push.send(svc.waitlist.of_account(acct_of(svc, 10))[0].id)
    secrets = [patient_name(n) for n in (10, 11)] + [id_number(n) for n in (10, 11)]
    secrets += [phone_number(n) for n in (10, 11)] + ["13900000011", "openid-10"]
    assert_no_pii(svc.redis, secrets)


def test_the_offer_fits_two_sms_segments_with_long_names(svc: Services, full: list[str]) -> None:
    svc.redis.hset(keys.slot(SMALL), "doctor_name", "欧阳中华")
    acct, patient = svc.patient(11, channel="sms", user="+8613900000011")
    entry = svc.waitlist.join(patient.pid, acct, "sms", "+8613900000011", SMALL).entry
    svc.schedule.import_csv(HEADER + ROW.format(capacity=3))
    for lang in ("zh", "en"):
        offer = svc.waitlist_push.offer_text(entry.id, lang)
        assert offer is not None and sms_segments(offer) <= 2, (lang, len(offer), offer)


def test_the_worker_offers_what_a_cancellation_freed_and_pushes_it(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    svc.booking.cancel(full[0], "patient:wechat")  # no hook ran (say the process died right after): still freed
    assert slot_counts(svc) == (1, 1, 0, 0)
    run_worker(svc, burst=True)  # the periodic tick offers it, the job pushes it
    assert status(svc, first) == "offered"
    assert [m["kind"] for m in svc.outbox.messages_for("openid-10")] == ["offer"]
    clock(svc).advance(timedelta(minutes=15))
    run_worker(svc, burst=True)
    assert status(svc, first) == "expired"
    assert slot_counts(svc) == (1, 0, 0, 1)


def test_a_held_place_of_a_suspended_clinic_is_not_claimed(svc: Services, full: list[str]) -> None:
    first = join(svc, 10)
    svc.booking.cancel(full[0], "patient:wechat")
    svc.waitlist.offer_pending()
    svc.schedule.set_slot_status(SMALL, "suspended")
    with pytest.raises(WaitlistRefused) as refused:
        svc.waitlist.claim(acct_of(svc, 10), first.id)
    assert refused.value.decision.rule == "slot_closed"
    assert status(svc, first) == "expired"
    assert slot_counts(svc)[:3] == (1, 0, 0)


def test_an_offer_whose_push_was_lost_is_pushed_again(svc: Services, full: list[str]) -> None:
    first, second = join(svc, 10), join(svc, 11)
    queue, svc.waitlist.queue = svc.waitlist.queue, None  # the process dies between holding and queueing the push
    svc.schedule.import_csv(HEADER + ROW.format(capacity=4))
    svc.waitlist.queue = queue
    assert (status(svc, first), status(svc, second)) == ("offered", "offered")
    svc.waitlist.claim(acct_of(svc, 11), second.id)  # claimed before any push: nothing to send for it
    run_worker(svc, burst=True)
    assert svc.outbox.messages_for("openid-10") == [], "not yet: the push may still be on its way"
    clock(svc).advance(timedelta(minutes=3))
    run_worker(svc, burst=True)
    assert [m["kind"] for m in svc.outbox.messages_for("openid-10")] == ["offer"]
    assert svc.redis.zcard(keys.WAITLIST_UNSENT) == 0
    clock(svc).advance(timedelta(minutes=3))
    run_worker(svc, burst=True)
    assert [m["kind"] for m in svc.outbox.messages_for("openid-10")] == ["offer"], "sent once"
