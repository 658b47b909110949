-- Waiting for a slot ended (its cancellation deadline passed): every waiting entry expires, places freed for them
-- go back to the hospital (for sale); offers already made run out by themselves (their hold ends by then).
-- KEYS: 1 the slot, 2 the slot's queue, 3 slots with freed places, 4 waitlist ends, 5 audit
-- ARGV: 1 the slot id, 2 at (ISO), 3 the entry key prefix, 4 the patient key prefix
-- Returns the number of entries expired
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  local entry = ARGV[3] .. id
  redis.call('HSET', entry, 'status', 'expired', 'reason', 'waitlist_closed', 'ended_at', ARGV[2])
  redis.call('SREM', ARGV[4] .. redis.call('HGET', entry, 'pid') .. ':waits', id)
end
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'wl_free', 0)
end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if #ids > 0 then
  redis.call('XADD', KEYS[5], '*', 'at', ARGV[2], 'actor', 'system', 'action', 'waitlist_closed', 'serial', '',
             'pid', '', 'detail', 'slot=' .. ARGV[1] .. ' expired=' .. #ids)
end
return #ids
