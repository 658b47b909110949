-- uses: waitlist
-- Move one appointment from an expected status to a new one, with its side effects, atomically.
-- Used for cancellation (patient or hospital), check-in, no-show and waiver.
-- KEYS: 1 appointment, 2 slot, 3 patient version, 4 no-show due, 5 audit stream, 6 violations (zset),
--       7 waived (set), 8 the slot's waitlist queue (zset), 9 slots with places freed for waiters (set)
-- ARGV: 1 allowed current statuses (comma-separated), 2 new status, 3 release the place ('1'/'0'),
--       4 record a violation ('1'/'0'), 5 violation score (epoch of the visit date), 6 waive ('1'/'0'),
--       7 audit actor, 8 audit at (ISO), 9 audit action, 10 audit detail, 11 waiting still open ('1'/'0'),
--       12 the slot id, then field/value pairs to set
-- A released place goes to the slot's waiters (wl_free, offered by bot.waitlist) while some wait for more places
-- than are already freed for them and waiting is open; else it is for sale again.
-- Returns: {'ok', old status} or {'wrong_status', current status} or {'missing'}
local current = redis.call('HGET', KEYS[1], 'status')
if not current then
  return {'missing'}
end
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if status == current then
    allowed = true
  end
end
if not allowed then
  return {'wrong_status', current}
end
local serial = redis.call('HGET', KEYS[1], 'serial')
local fields = {'status', ARGV[2]}
for i = 13, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[2], 'taken', -1)
  to_waiters(KEYS[2], KEYS[8], KEYS[9], ARGV[12], ARGV[11] == '1')
end
redis.call('ZREM', KEYS[4], serial)
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[6], ARGV[5], serial)
end
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[7], serial)
end
redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[5], '*', 'at', ARGV[8], 'actor', ARGV[7], 'action', ARGV[9], 'serial', serial,
           'pid', redis.call('HGET', KEYS[1], 'pid'), 'detail', ARGV[10])
return {'ok', current}
