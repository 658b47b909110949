-- Store a recomputed standing only if the patient's record did not move since it was read.
-- KEYS: 1 patient version, 2 standing hash, 3 audit stream
-- ARGV: 1 expected version, 2 audit at, 3 audit actor, 4 pid, then field/value pairs
-- Returns: 1 stored (an audit entry when suspended_until changed), 0 moved
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then
  return 0
end
local before = redis.call('HGET', KEYS[2], 'suspended_until') or ''
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[2], unpack(fields))
local after = redis.call('HGET', KEYS[2], 'suspended_until') or ''
if before ~= after then
  redis.call('XADD', KEYS[3], '*', 'at', ARGV[2], 'actor', ARGV[3], 'action', 'standing_changed', 'serial', '',
             'pid', ARGV[4], 'detail', 'suspended_until=' .. after)
end
return 1
