-- Offer one place freed for a slot's waiters to one waiting entry (hold it for them), or skip an entry that may no
-- longer take it; atomically, so a place is never both held and for sale, nor held twice.
-- KEYS: 1 the slot, 2 the slot's queue, 3 the entry, 4 offers (zset by hold end), 5 the entry's patient version,
--       6 slots with freed places, 7 audit, 8 the entry's account offers, 9 the entry's patient live entries,
--       10 pushes not confirmed yet (an offer, or the notice of a waiter skipped)
-- ARGV: 1 entry id, 2 expected patient version, 3 hold until (epoch), 4 at (ISO), 5 the slot id,
--       6 'offer' | 'skip', 7 why skipped (the rule), 8 now (epoch, deployment clock)
-- Returns {'ok'} or {'none'} (no place left to offer) / {'gone'} (the entry no longer waits) / {'moved'}
local free = tonumber(redis.call('HGET', KEYS[1], 'wl_free') or '0')
if free <= 0 then
  redis.call('SREM', KEYS[6], ARGV[5])
  return {'none'}
end
if redis.call('HGET', KEYS[3], 'status') ~= 'waiting' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {'gone'}
end
if (redis.call('GET', KEYS[5]) or '0') ~= ARGV[2] then
  return {'moved'}
end
local pid = redis.call('HGET', KEYS[3], 'pid')
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[6] == 'skip' then
  redis.call('HSET', KEYS[3], 'status', 'expired', 'reason', ARGV[7], 'ended_at', ARGV[4], 'skipped', '1')
  redis.call('SREM', KEYS[9], ARGV[1])
  redis.call('ZADD', KEYS[10], ARGV[8], ARGV[1])
  local waiting = redis.call('ZCARD', KEYS[2])
  if free > waiting then -- fewer waiters than freed places: the surplus is for sale again
    redis.call('HSET', KEYS[1], 'wl_free', waiting)
    free = waiting
  end
  redis.call('XADD', KEYS[7], '*', 'at', ARGV[4], 'actor', 'system', 'action', 'waitlist_skipped', 'serial', '',
             'pid', pid, 'detail', 'slot=' .. ARGV[5] .. ' entry=' .. ARGV[1] .. ' rule=' .. ARGV[7])
else
  redis.call('HINCRBY', KEYS[1], 'wl_free', -1)
  redis.call('HINCRBY', KEYS[1], 'wl_held', 1)
  free = free - 1
  redis.call('HSET', KEYS[3], 'status', 'offered', 'hold_until', ARGV[3], 'offered_at', ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
  redis.call('SADD', KEYS[8], ARGV[1])
  redis.call('ZADD', KEYS[10], ARGV[8], ARGV[1])
  redis.call('XADD', KEYS[7], '*', 'at', ARGV[4], 'actor', 'system', 'action', 'waitlist_offered', 'serial', '',
             'pid', pid, 'detail', 'slot=' .. ARGV[5] .. ' entry=' .. ARGV[1] .. ' until=' .. ARGV[3])
end
if free <= 0 then
  redis.call('SREM', KEYS[6], ARGV[5])
end
return {'ok'}
