-- uses: audit, booking, waitlist
-- Move an appointment (改约) in one step: take a place in the new slot (book.lua's checks and writes), release the old
-- one (to the old slot's waiters while some wait, as transition.lua does), move the reminders (the old ones dropped,
-- the new ones scheduled), append both to the audit trail. Either all of it happens or none: the patient never holds
-- both places and never loses the old one without the new.
-- KEYS: 1 old appointment, 2 old slot, 3 old slot's waitlist queue, 4 slots with places freed for waiters,
--       5 reminders due, then book.lua's: 6 new slot, 7 patient version, 8 patient appointments, 9 new slot's
--       appointments, 10 the new date's appointments, 11 all appointments, 12 no-show due, 13 audit, 14 patient hash,
--       15.. appointment key candidates
-- ARGV: 1 old serial, 2 waiting still open for the old slot ('1'/'0'), 3 old slot id, 4 the new reminders
--       ({kind: due epoch}, JSON), 5 every reminder kind (JSON list), 6 the old appointment's refund (cents),
--       then book.lua's: 7 expected patient version, 8 booked_at epoch, 9 visit start epoch, 10 no-show due epoch,
--       11 audit actor, 12 audit at (ISO), 13 the new appointment's fields (JSON), 14.. serial candidates
-- Returns {'ok', serial, queue_no, patient_name_masked} or {'not_booked', status} / {'moved'} / {'no_slot'} /
--         {'closed'} / {'full'} / {'serial_clash'}
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'booked' then
  return {'not_booked', status or ''}
end
local call = book_call(5, 6)
local refused = refusal(call)
if refused then
  return refused
end
-- the new appointment
call.fields = cjson.decode(call.fields_json)
call.fields['rescheduled_from'] = ARGV[1]
local serial = call.serial
local queue_no, name_masked = write_appointment(call)
-- the old one: released (not a cancellation of the patient's: no violation, the quota freed)
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_at', call.audited_at, 'refund_cents', ARGV[6],
           'rescheduled_to', serial)
redis.call('HINCRBY', KEYS[2], 'taken', -1)
to_waiters(KEYS[2], KEYS[3], KEYS[4], ARGV[3], ARGV[2] == '1')
redis.call('ZREM', call.no_show_due, ARGV[1])
-- the reminders: the old ones never fire, the new ones are due at the new time
for _, kind in ipairs(cjson.decode(ARGV[5])) do
  redis.call('ZREM', KEYS[5], ARGV[1] .. '|' .. kind)
end
for kind, due in pairs(cjson.decode(ARGV[4])) do
  redis.call('ZADD', KEYS[5], due, serial .. '|' .. kind)
end
local pid = redis.call('HGET', call.key, 'pid')
audit(call.audit, call.audited_at, call.actor, 'rescheduled', ARGV[1], pid,
      'to=' .. serial .. ' refund_cents=' .. ARGV[6])
audit(call.audit, call.audited_at, call.actor, 'booked', serial, pid, 'queue_no=' .. queue_no .. ' from=' .. ARGV[1])
return {'ok', serial, queue_no, name_masked}
