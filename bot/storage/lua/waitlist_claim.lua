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
local K, A = 4, 2
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' then
  return {'gone'}
end
if tonumber(redis.call('HGET', KEYS[1], 'hold_until')) <= tonumber(ARGV[2]) then
  return {'expired'}
end
if (redis.call('GET', KEYS[K + 2]) or '0') ~= ARGV[A + 1] then
  return {'moved'}
end
if redis.call('HGET', KEYS[K + 1], 'status') ~= 'open' then
  return {'closed'}
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
redis.call('HINCRBY', KEYS[K + 1], 'wl_held', -1)
redis.call('HINCRBY', KEYS[K + 1], 'taken', 1)
local queue_no = redis.call('HINCRBY', KEYS[K + 1], 'next_queue', 1)
local name_masked = redis.call('HGET', KEYS[K + 9], 'nm') or ''
local fields = {'serial', serial, 'queue_no', queue_no, 'status', 'booked', 'patient_name_masked', name_masked}
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
redis.call('INCR', KEYS[K + 2])
redis.call('HSET', KEYS[1], 'status', 'booked', 'serial', serial, 'ended_at', ARGV[A + 6])
redis.call('HDEL', KEYS[1], 'hold_until')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[K + 8], '*', 'at', ARGV[A + 6], 'actor', ARGV[A + 5], 'action', 'booked', 'serial', serial,
           'pid', redis.call('HGET', key, 'pid'), 'detail', 'queue_no=' .. queue_no .. ' waitlist=' .. ARGV[1])
return {'ok', serial, queue_no, name_masked}
