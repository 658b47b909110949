-- Remove a patient from one account (the patient record, appointments and standing stay).
-- KEYS: 1 account patients, 2 account order, 3 account.  ARGV: 1 pid.  Returns 1 if removed, 0 if absent.
local pid = ARGV[1]
local removed = redis.call('SREM', KEYS[1], pid)
redis.call('ZREM', KEYS[2], pid)
if redis.call('HGET', KEYS[3], 'active') == pid then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if first[1] then
    redis.call('HSET', KEYS[3], 'active', first[1])
  else
    redis.call('HDEL', KEYS[3], 'active')
  end
end
return removed
