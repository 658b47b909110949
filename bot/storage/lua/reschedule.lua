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
local K, A = 5, 6
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'booked' then
  return {'not_booked', status or ''}
end
if (redis.call('GET', KEYS[K + 2]) or '0') ~= ARGV[A + 1] then
  return {'moved'}
end
local slot = redis.call('HMGET', KEYS[K + 1], 'capacity', 'taken', 'status', 'wl_free', 'wl_held')
if not slot[1] then
  return {'no_slot'}
end
if slot[3] ~= 'open' then
  return {'closed'}
end
if tonumber(slot[2]) + tonumber(slot[4] or '0') + tonumber(slot[5] or '0') >= tonumber(slot[1]) then
  return {'full'}
end
local serial, key
for i = A + 8, #ARGV do
  if redis.call('EXISTS', KEYS[i - A + K + 2]) == 0 then
    serial, key = ARGV[i], KEYS[i - A + K + 2]
    break
  end
end
if not serial then
  return {'serial_clash'}
end
-- the new appointment
redis.call('HINCRBY', KEYS[K + 1], 'taken', 1)
local queue_no = redis.call('HINCRBY', KEYS[K + 1], 'next_queue', 1)
local name_masked = redis.call('HGET', KEYS[K + 9], 'nm') or ''
local fields = {'serial', serial, 'queue_no', queue_no, 'status', 'booked', 'patient_name_masked', name_masked,
                'rescheduled_from', ARGV[1]}
for name, value in pairs(cjson.decode(ARGV[A + 7])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', KEYS[K + 3], ARGV[A + 2], serial)
redis.call('ZADD', KEYS[K + 4], queue_no, serial)
redis.call('SADD', KEYS[K + 5], serial)
redis.call('ZADD', KEYS[K + 6], ARGV[A + 3], serial)
redis.call('ZADD', KEYS[K + 7], ARGV[A + 4], serial)
-- the old one: released (not a cancellation of the patient's: no violation, the quota freed)
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_at', ARGV[A + 6], 'refund_cents', ARGV[6],
           'rescheduled_to', serial)
redis.call('HINCRBY', KEYS[2], 'taken', -1)
local free = tonumber(redis.call('HGET', KEYS[2], 'wl_free') or '0')
if ARGV[2] == '1' and redis.call('HGET', KEYS[2], 'status') == 'open' and redis.call('ZCARD', KEYS[3]) > free then
  redis.call('HINCRBY', KEYS[2], 'wl_free', 1)
  redis.call('SADD', KEYS[4], ARGV[3])
end
redis.call('ZREM', KEYS[K + 7], ARGV[1])
-- the reminders: the old ones never fire, the new ones are due at the new time
for _, kind in ipairs(cjson.decode(ARGV[5])) do
  redis.call('ZREM', KEYS[5], ARGV[1] .. '|' .. kind)
end
for kind, due in pairs(cjson.decode(ARGV[4])) do
  redis.call('ZADD', KEYS[5], due, serial .. '|' .. kind)
end
redis.call('INCR', KEYS[K + 2])
local pid = redis.call('HGET', key, 'pid')
redis.call('XADD', KEYS[K + 8], '*', 'at', ARGV[A + 6], 'actor', ARGV[A + 5], 'action', 'rescheduled', 'serial', ARGV[1],
           'pid', pid, 'detail', 'to=' .. serial .. ' refund_cents=' .. ARGV[6])
redis.call('XADD', KEYS[K + 8], '*', 'at', ARGV[A + 6], 'actor', ARGV[A + 5], 'action', 'booked', 'serial', serial,
           'pid', pid, 'detail', 'queue_no=' .. queue_no .. ' from=' .. ARGV[1])
return {'ok', serial, queue_no, name_masked}
