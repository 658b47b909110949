-- uses: audit, booking
-- A waiter claims the place held for them (replied Y in time): the held place becomes their appointment, with the
-- same checks and writes as book.lua, atomically; a hold that lapsed (or was passed on) is never claimed.
-- KEYS: 1 the entry, 2 offers, 3 the patient's live entries, 4 the account's offers,
--       then book.lua's: 5 slot, 6 patient version, 7 patient appointments, 8 slot appointments, 9 date appointments,
--       10 all appointments, 11 no-show due, 12 audit, 13 patient hash, 14.. appointment key candidates
-- ARGV: 1 entry id, 2 now (epoch, deployment clock),
--       then book.lua's: 3 expected patient version, 4 booked_at epoch, 5 visit start epoch, 6 no-show due epoch,
--       7 audit actor, 8 audit at (ISO), 9 the appointment's fields (JSON), 10.. serial candidates
-- Returns {'ok', serial, queue_no, patient_name_masked} or {'expired'} / {'gone'} / {'moved'} / {'closed'}
--         (the clinic was suspended meanwhile) / {'serial_clash'}
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' then
  return {'gone'}
end
if tonumber(redis.call('HGET', KEYS[1], 'hold_until')) <= tonumber(ARGV[2]) then
  return {'expired'}
end
local call = book_call(4, 2)
if not version_unchanged(call.version, call.expected_version) then
  return {'moved'}
end
if redis.call('HGET', call.slot, 'status') ~= 'open' then
  return {'closed'}
end
if not pick_serial(call) then
  return {'serial_clash'}
end
redis.call('HINCRBY', call.slot, 'wl_held', -1)
call.fields = cjson.decode(call.fields_json)
local queue_no, name_masked = write_appointment(call)
redis.call('HSET', KEYS[1], 'status', 'booked', 'serial', call.serial, 'ended_at', call.audited_at)
redis.call('HDEL', KEYS[1], 'hold_until')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
audit(call.audit, call.audited_at, call.actor, 'booked', call.serial, redis.call('HGET', call.key, 'pid'),
      'queue_no=' .. queue_no .. ' waitlist=' .. ARGV[1])
return {'ok', call.serial, queue_no, name_masked}
