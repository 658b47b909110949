"""Every Redis key guahao uses, in one place, with what it holds.

No key or value holds an ID number, a phone number or a name in clear: patients are keyed by a keyed hash of
their ID number (``pid``), accounts and phones by keyed hashes (``acct``, ``phone_hash``), see ``bot.crypto``.
All keys start with ``gh:`` so a shared Redis stays tidy.

Slot ids are ``<hospital>|<department>|<doctor>|<YYYY-MM-DD>|<HH:MM>`` (ids never contain ``|``, see
``bot.config.id_problem``). Hospital and department ids may hold ``:`` (any text, SPEC §7), so where one is a part of a
key it goes through :func:`part`: hospital ``a:b`` on a date and department ``b`` of hospital ``a`` on that date
must not share a key.
"""

from __future__ import annotations

PREFIX = "gh:"


def part(value: str) -> str:
    """An id as one part of a key: ``%`` and ``:`` escaped, so parts never run into each other (plain ids are
    unchanged, so keys written before ids could hold ``:`` stay the same)."""
    return value.replace("%", "%25").replace(":", "%3A")


# --- schedule --------------------------------------------------------------------------------------------
def slot(slot_id: str) -> str:
    """Hash of one slot (号源): hospital, department, doctor, doctor_name, level, date, start, end, capacity,
    fee_cents, taken (places held by live appointments), next_queue (last queue number given), status
    (``open`` | ``suspended``)."""
    return f"{PREFIX}slot:{slot_id}"


def slots_of_day(hospital: str, date: str) -> str:
    """Sorted set of the slot ids of a hospital on a date, scored by start (minutes after midnight)."""
    return f"{PREFIX}slots:{part(hospital)}:{date}"


def slots_of_department_day(hospital: str, department: str, date: str) -> str:
    """Sorted set of the slot ids of a department on a date, scored by start (minutes after midnight)."""
    return f"{PREFIX}slots:{part(hospital)}:{part(department)}:{date}"


SCHEDULE_VERSION = f"{PREFIX}schedule:version"
"""String: a random token written anew by every script that adds, changes or drops slots (``import_slots.lua``,
``archive_slot.lua``); what a process cached of the schedule is valid while it stays (bot.schedule_cache)."""


def schedule_dates(hospital: str) -> str:
    """Set of the dates (YYYY-MM-DD) on which a hospital has slots."""
    return f"{PREFIX}schedule-dates:{part(hospital)}"


# --- patients and accounts -------------------------------------------------------------------------------
def patient(pid: str) -> str:
    """Hash of a patient, with short field names (``bot.patients.Field``): ``n``, ``i``, ``p`` (name, ID number,
    phone, encrypted), ``ph`` (phone hash), ``nm``, ``im``, ``pm`` (masked), ``c`` (created, epoch seconds)."""
    return f"{PREFIX}patient:{pid}"


def patient_appointments(pid: str) -> str:
    """Sorted set of a patient's appointment serials, scored by booking time (epoch seconds)."""
    return f"{PREFIX}patient:{pid}:appts"


def patient_version(pid: str) -> str:
    """Counter bumped by every change of a patient's appointments or standing (optimistic re-check)."""
    return f"{PREFIX}patient:{pid}:version"


def standing(pid: str) -> str:
    """Hash of a patient's standing, recomputed by ``rules`` after every change: no_shows_this_year,
    suspended_until (YYYY-MM-DD or ""), reason; and the staff's abuse flag: flagged_until, flag_reason."""
    return f"{PREFIX}patient:{pid}:standing"


def patient_violations(pid: str) -> str:
    """Sorted set of a patient's violations (no-shows, late cancellations), scored by the visit date's
    local midnight (epoch seconds)."""
    return f"{PREFIX}patient:{pid}:violations"


def patient_waived(pid: str) -> str:
    """Set of the serials whose violation staff waived (force majeure with proof)."""
    return f"{PREFIX}patient:{pid}:waived"


def account(acct: str) -> str:
    """Hash of an account (channel + user, hashed): ``ch`` (channel), ``c`` (created, epoch seconds), language;
    ``p:<pid>`` = the order the account added that patient in (the patients it manages, shown in that order), ``a`` =
    the order of the active one (the patient it acts for by default); and on
    the SMS account of a phone, ``f:<pid>`` = 1 for each patient whose verified phone it is (cross-channel: SMS from
    that phone acts for them). One key per account, small enough to stay a listpack (``bot.storage.encoding``); it
    replaces the former ``account:<acct>:patients`` set, ``account:<acct>:patients-order`` sorted set and
    ``phone:<hash>:patients`` set (``bot.storage.migrate`` folds those in)."""
    return f"{PREFIX}account:{acct}"


def phone_opt_out(phone_hash: str) -> str:
    """Flag: this phone opted out of reminders (TD/STOP, or Twilio error 21610)."""
    return f"{PREFIX}phone:{phone_hash}:opted-out"


def otp(phone_hash: str, purpose: str) -> str:
    """Hash of the live one-time code of a phone: code_hash, attempts, expires_at (expires with it)."""
    return f"{PREFIX}otp:{phone_hash}:{purpose}"


def otp_sends(phone_hash: str) -> str:
    """Sorted set of the times codes were sent to a phone (rate limits: per minute, per hour)."""
    return f"{PREFIX}otp-sends:{phone_hash}"


# --- appointments ----------------------------------------------------------------------------------------
def appointment(serial: str) -> str:
    """Hash of an appointment: serial, slot, hospital, department, doctor, doctor_name, level, date, start, end,
    fee_cents, queue_no, status, pid, acct, channel, patient_name_masked, booked_at, cancelled_at,
    refund_cents, checked_in_at, no_show_at, version."""
    return f"{PREFIX}appt:{serial}"


def slot_appointments(slot_id: str) -> str:
    """Sorted set of the serials booked in a slot, scored by queue number."""
    return f"{PREFIX}slot:{slot_id}:appts"


def date_appointments(date: str) -> str:
    """Set of the serials whose visit date this is."""
    return f"{PREFIX}appts:date:{date}"


ALL_APPOINTMENTS = f"{PREFIX}appts:all"
"""Sorted set of every serial, scored by the visit's start (epoch seconds)."""

NO_SHOW_DUE = f"{PREFIX}appts:no-show-due"
"""Sorted set of booked serials, scored by the moment they become no-shows (slot end, epoch seconds)."""

AUDIT = f"{PREFIX}audit"
"""Stream of every state change of an appointment or a standing: at, actor, action, serial, pid, detail."""


# --- clock, messaging ------------------------------------------------------------------------------------
CLOCK_OFFSET = f"{PREFIX}clock:offset"
"""Seconds (float) the deployment's clock runs ahead of the wall clock (the simulator moves it)."""

OUTBOX = f"{PREFIX}outbox"
"""Stream of messages the console senders pushed: channel, to_enc, to_hash, kind, text_enc, at."""


def outbox_of(to_hash: str) -> str:
    """Sorted set of outbox stream ids addressed to one recipient (by keyed hash)."""
    return f"{PREFIX}outbox:{to_hash}"


def sent(idempotency_token: str) -> str:
    """The result (JSON) of an outbound send, by a keyed hash of its idempotency key: a retried send with the
    same key sends nothing; expires after a few days."""
    return f"{PREFIX}sent:{idempotency_token}"


# --- reminders, broadcasts, releases (bot.reminders, bot.broadcasts, bot.release) ---------------------------
def appointment_notify(serial: str) -> str:
    """Hash: where an appointment's notifications go: channel, to_enc (the openid or phone, encrypted), written
    when it is booked; expires some days after the visit."""
    return f"{PREFIX}appt:{serial}:notify"


REMINDERS_DUE = f"{PREFIX}reminders:due"
"""Sorted set of reminder entries ``<serial>|<kind>``, scored by when they fall due on the deployment clock
(epoch seconds)."""

REMINDERS_CLAIMED = f"{PREFIX}reminders:claimed"
"""Sorted set of reminder entries handed to a job, scored by the wall-clock moment the claim lapses (then they are
handed out again, unless the job finished and removed them)."""

CONFIRMATIONS_WAITING = f"{PREFIX}reminders:confirmations"
"""List of the claims (``keys.REMINDERS_CLAIMED`` members) of confirmations waiting for the batch job that sends
them (bot.confirmations); expires a day after the last one joined (their claims lapse long before)."""

CONFIRMATIONS_JOB = f"{PREFIX}reminders:confirmations:job"
"""String: the id of the confirmations' batch job queued or running (bot.confirmations), set by the booking that
queues it; renewed by that job while it works, deleted by it when it finds none waiting (if still its own), handed
to its successor; expires in case the job died."""


def broadcast(broadcast_id: str) -> str:
    """Hash of a broadcast: id, status, total, sent, failed, skipped, hospital, department, doctor, date, text_enc
    (the staff's text, encrypted), cancel, actor, created_at, heartbeat (wall epoch of the last progress), resumes,
    fingerprint (keyed hash), batch_size, finished_at."""
    return f"{PREFIX}broadcast:{broadcast_id}"


def broadcast_serials(broadcast_id: str) -> str:
    """List of the serials a broadcast selected, snapshotted when it was created (batches are ranges of it)."""
    return f"{PREFIX}broadcast:{broadcast_id}:serials"


def broadcast_done(broadcast_id: str) -> str:
    """Set of the serials a broadcast has finished with (sent, failed or skipped): each is counted once."""
    return f"{PREFIX}broadcast:{broadcast_id}:done"


def broadcast_batches(broadcast_id: str) -> str:
    """Set of the batch numbers of a broadcast that are finished."""
    return f"{PREFIX}broadcast:{broadcast_id}:batches"


BROADCASTS_ACTIVE = f"{PREFIX}broadcasts:active"
"""Set of the ids of broadcasts not finished yet (watched for abandoned work)."""


def broadcast_fingerprint(fingerprint: str) -> str:
    """The id of the unfinished broadcast with these parameters (the same request again resumes it)."""
    return f"{PREFIX}broadcasts:fp:{fingerprint}"


def send_rate(channel: str) -> str:
    """Hash of the token bucket limiting broadcast sends on a channel: tokens, at (wall epoch)."""
    return f"{PREFIX}send-rate:{channel}"


def day_released(hospital: str, date: str) -> str:
    """Flag: the release of this hospital's visit date (its entry into the booking window) was recorded."""
    return f"{PREFIX}released:{part(hospital)}:{date}"


# --- WeChat ----------------------------------------------------------------------------------------------
def wechat_unsubscribed(acct: str) -> str:
    """Flag (epoch seconds of the event): this WeChat account unfollowed the official account; nothing is pushed
    to it until it follows again."""
    return f"{PREFIX}wechat:unsubscribed:{acct}"


def wechat_access_token(app_id: str) -> str:
    """The official account's access token, shared by every process; expires a few minutes before WeChat's."""
    return f"{PREFIX}wechat:token:{app_id}"


def wechat_token_lock(app_id: str) -> str:
    """Lock held while one process fetches a new access token (the others wait and read it)."""
    return f"{PREFIX}wechat:token-lock:{app_id}"


# --- conversation ----------------------------------------------------------------------------------------
def session(acct: str) -> str:
    """Hash of a dialog session: state, data (JSON, encrypted as one blob), language, schema; kept a day."""
    return f"{PREFIX}session:{acct}"


def user_lock(acct: str) -> str:
    """Lock held while one message of this account is processed."""
    return f"{PREFIX}lock:{acct}"


def rate(acct: str, minute: int) -> str:
    """Counter of the messages an account sent in one minute (epoch minute), for the per-account rate limit."""
    return f"{PREFIX}rate:{acct}:{minute}"


def inbound_seen(channel: str, message_key: str) -> str:
    """The stored reply (encrypted) of an inbound message already processed (dedupe of platform retries), or what
    became of it: pending, handed to the worker (``bot.delivery.DEFERRED``), pushed by it (``bot.delivery.LATE``)."""
    return f"{PREFIX}seen:{channel}:{message_key}"


def sms_seen(message_sid: str) -> str:
    """The replies (encrypted JSON list) to an inbound SMS the adapter answered itself (TD/STOP, START): for retries."""
    return f"{PREFIX}sms:seen:{message_sid}"


def sms_status(message_sid: str) -> str:
    """Hash of the delivery status Twilio reported for an outbound SMS: status, error_code, at; kept a week."""
    return f"{PREFIX}sms:status:{message_sid}"


# --- the release lottery (bot.lottery, RULES §12) ------------------------------------------------------------
def lottery(hospital: str, date: str) -> str:
    """Hash of the lottery draw of a hospital's visit date: hospital, date, window_end (epoch), seq (registrations
    so far), seed (fixed once chosen), and once drawn: drawn_at, entrants, winners, order (JSON of entrant hashes)."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}"


def lottery_entries(hospital: str, date: str) -> str:
    """Hash of the registrations of a draw: ``<pid>|<slot id>`` -> JSON {seq, acct, phone (hash), channel, to_enc
    (where to tell the outcome, encrypted), at}."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}:entries"


def lottery_account(hospital: str, date: str, acct: str) -> str:
    """Set of the pids an account registered into a draw (anti-scalping: at most max_patients_per_account)."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}:acct:{acct}"


def lottery_phone(hospital: str, date: str, phone_hash: str) -> str:
    """Set of the pids registered into a draw whose verified phone this is (at most max_patients_per_account)."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}:phone:{phone_hash}"


def lottery_outcomes(hospital: str, date: str) -> str:
    """Hash of a drawn lottery's outcome per registered patient: pid -> JSON {position, hash, slot, serial, reason,
    acct, channel, to_enc}."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}:outcomes"


def lottery_untold(hospital: str, date: str) -> str:
    """Set of the pids of a drawn lottery not yet told their outcome (emptied by bot.lottery's notices)."""
    return f"{PREFIX}lottery:{part(hospital)}:{date}:untold"


def lottery_invites(acct: str) -> str:
    """Hash of an account's invitations to join a waitlist after losing a draw (SPEC §8 "offered the waitlist"):
    ``<pid>|<slot id>`` -> the epoch second the slot's waiting ends; a reply ``候补``/``WAIT`` joins them. The key
    lapses a while after its last invitation ends (so that a late reply is told it ended)."""
    return f"{PREFIX}lottery:invites:{acct}"


LOTTERY_DUE = f"{PREFIX}lottery:due"
"""Sorted set of the draws with registrations, ``<hospital>|<date>``, scored by their window's end (epoch seconds);
a draw leaves it once drawn and every registrant told."""
# --- waitlist (候补, bot.waitlist) ---------------------------------------------------------------------------
# A slot's hash also holds ``wl_free`` (places freed for its waiters, not yet offered) and ``wl_held`` (places held
# for a waiter offered one): neither is for sale, so places for sale = capacity - taken - wl_free - wl_held.
WAITLIST_SEQ = f"{PREFIX}waitlist:seq"
"""Counter: the id (and the order of joining) of the next waitlist entry."""


def waitlist_entry(entry_id: str) -> str:
    """Hash of one waitlist entry: id, slot, pid, acct, channel, to_enc (the openid or phone to offer to, encrypted),
    status (``waiting`` | ``offered`` | ``booked`` | ``expired`` | ``left``), joined_at, hold_until (epoch seconds,
    deployment clock, while offered), serial (once booked), reason (why it ended), patient_name_masked, hospital,
    department, doctor, date, start."""
    return f"{PREFIX}waitlist:entry:{entry_id}"


def waitlist_queue(slot_id: str) -> str:
    """Sorted set of the ids of the entries *waiting* for a slot, scored by the order they joined."""
    return f"{PREFIX}waitlist:slot:{slot_id}:queue"


def waitlist_of_slot(slot_id: str) -> str:
    """Sorted set of every entry ever made for a slot (any status), scored by the order they joined (staff view)."""
    return f"{PREFIX}waitlist:slot:{slot_id}:all"


def waitlist_slots_of_date(date: str) -> str:
    """Set of the slot ids of a visit date that have (had) a waitlist."""
    return f"{PREFIX}waitlist:date:{date}"


def patient_waits(pid: str) -> str:
    """Set of a patient's live entries (waiting or offered): at most ``waitlist_max_entries``."""
    return f"{PREFIX}patient:{pid}:waits"


def account_waits(acct: str) -> str:
    """Sorted set of the entries an account made (live or not), scored by the order they joined."""
    return f"{PREFIX}account:{acct}:waits"


def account_offers(acct: str) -> str:
    """Set of an account's entries holding an offer now (a ``Y`` from that account claims)."""
    return f"{PREFIX}account:{acct}:offers"


WAITLIST_OFFERS = f"{PREFIX}waitlist:offers"
"""Sorted set of offered entry ids, scored by when their hold lapses (epoch seconds, deployment clock)."""

WAITLIST_PENDING = f"{PREFIX}waitlist:pending"
"""Set of the slot ids with places freed for their waiters and not yet offered (``wl_free`` > 0)."""

WAITLIST_ENDS = f"{PREFIX}waitlist:ends"
"""Sorted set of the slot ids with a waitlist, scored by when waiting ends (the cancellation deadline, epoch)."""

WAITLIST_UNSENT = f"{PREFIX}waitlist:unsent"
"""Sorted set of the entry ids whose push is not known to be sent yet — an offer, or the notice of a waiter skipped
— scored by when it was last queued (epoch seconds, deployment clock): the periodic duty queues it again after a
while (a process that died between holding the place, or skipping the waiter, and queueing the push loses none)."""

WAITLIST_DATES = f"{PREFIX}waitlist:dates"
"""Set of the visit dates (YYYY-MM-DD) that have (had) a waitlist (the staff listing without a date)."""


def sms_rate(phone_key: str, window: str, bucket: int) -> str:
    """Counter of the SMS sent to one phone (keyed hash) in one window (``minute``/``hour`` numbered from the epoch,
    ``day`` the calendar day's ordinal), for the mainland providers' per-phone limits (``sms_rate.lua``)."""
    return f"{PREFIX}sms:rate:{phone_key}:{window}:{bucket}"


# --- retention (bot.archive) ------------------------------------------------------------------------------
ARCHIVE_PENDING = f"{PREFIX}archive:pending"
"""Hash of the entries being archived: entry id (``appt:<serial>`` | ``audit:<stream id>``) -> the archive file
(relative to the archive directory) it is being written to. Set before the file is written, cleared once the entry
has left Redis: after a crash, only these entries need their file checked (bot.archive)."""

ARCHIVE_DUE = f"{PREFIX}archive:ran"
"""Flag (expires): the worker ran the archive a short while ago (it runs every few minutes, not every tick)."""


# --- high availability (bot.settle, bot.lease) -----------------------------------------------------------
def settlement(kind: str, serial: str) -> str:
    """Hash of a change the patient was told "being confirmed" (the replicas did not confirm it in time): record
    (sealed: the appointment as told, the channel and openid/phone to answer on), outcome (the appointment's status
    once read durably), checked_at. Removed once the outcome is sent."""
    return f"{PREFIX}settle:{kind}:{serial}"


SETTLE_DUE = f"{PREFIX}settle:due"
"""Sorted set of the :func:`settlement` keys still to settle, scored by when they were deferred (epoch seconds)."""


def lease(duty: str) -> str:
    """String: the token of the worker holding the lease of a periodic duty (``periodic``); expires on its own."""
    return f"{PREFIX}lease:{duty}"


# --- calendar files (bot.calendar_links) ---------------------------------------------------------------------
def calendar_link(serial: str) -> str:
    """The calendar token of an appointment, encrypted (``/calendar/<token>.ics``): random, never derived from the
    serial; expires some days after the visit."""
    return f"{PREFIX}appt:{serial}:calendar"


def calendar_token(token_hash: str) -> str:
    """The serial a calendar token (by keyed hash) opens; expires with :func:`calendar_link`."""
    return f"{PREFIX}calendar:{token_hash}"


def wechat_template_sent(msgid: str) -> str:
    """Hash of what a WeChat template message carried, by WeChat's ``msgid``: serial, kind, key (its send-once key),
    body_enc (the text an SMS fallback sends, encrypted); kept until its delivery report is long due."""
    return f"{PREFIX}wechat:template:{msgid}"


def wechat_template_status(msgid: str) -> str:
    """Hash of the delivery report WeChat sent for a template message (``TEMPLATESENDJOBFINISH``): status
    (``success``, ``failed:user block``, ``failed: system failed``), at; kept a week."""
    return f"{PREFIX}wechat:template-status:{msgid}"
