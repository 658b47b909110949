-- Commit one booking atomically: re-check what can change concurrently, take a place, write and index.
-- KEYS: 1 slot, 2 patient version, 3 patient appointments, 4 slot appointments, 5 date appointments,
--       6 all appointments, 7 no-show due, 8 audit stream, 9 patient hash, 10.. appointment key candidates
-- ARGV: 1 expected patient version, 2 booked_at epoch, 3 visit start epoch, 4 no-show due epoch,
--       5 audit actor, 6 audit at (ISO), 7 the appointment's fields (a JSON object), 8.. serial candidates
-- Returns: {'ok', serial, queue_no, patient_name_masked} or {'moved'} / {'closed'} / {'full'} / {'serial_clash'} / {'no_slot'}
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return {'moved'}
end
local slot = redis.call('HMGET', KEYS[1], 'capacity', 'taken', 'status', 'wl_free', 'wl_held')
if not slot[1] then
  return {'no_slot'}
end
if slot[3] ~= 'open' then
  return {'closed'}
end
-- a place freed for the waitlist, or held for a waiter, is not for sale (bot.waitlist)
if tonumber(slot[2]) + tonumber(slot[4] or '0') + tonumber(slot[5] or '0') >= tonumber(slot[1]) then
  return {'full'}
end
local serial, key
for i = 8, #ARGV do
  if redis.call('EXISTS', KEYS[i + 2]) == 0 then
    serial, key = ARGV[i], KEYS[i + 2]
    break
  end
end
if not serial then
  return {'serial_clash'}
end
redis.call('HINCRBY', KEYS[1], 'taken', 1)
local queue_no = redis.call('HINCRBY', KEYS[1], 'next_queue', 1)
local name_masked = redis.call('HGET', KEYS[9], 'nm') or ''  -- the patient's masked name (bot.patients.Field)
local fields = {'serial', serial, 'queue_no', queue_no, 'status', 'booked', 'patient_name_masked', name_masked}
for name, value in pairs(cjson.decode(ARGV[7])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', KEYS[3], ARGV[2], serial)
redis.call('ZADD', KEYS[4], queue_no, serial)
redis.call('SADD', KEYS[5], serial)
redis.call('ZADD', KEYS[6], ARGV[3], serial)
redis.call('ZADD', KEYS[7], ARGV[4], serial)
redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[8], '*', 'at', ARGV[6], 'actor', ARGV[5], 'action', 'booked', 'serial', serial,
           'pid', redis.call('HGET', key, 'pid'), 'detail', 'queue_no=' .. queue_no)
return {'ok', serial, queue_no, name_masked}
