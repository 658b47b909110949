-- uses: waitlist
-- A waiter leaves (退出候补): a waiting entry leaves the queue (a place freed for more waiters than are left goes
-- back to sale); an offered one gives its held place to the next waiter (or back to sale); atomically.
-- KEYS: 1 the entry, 2 the slot, 3 the slot's queue, 4 offers, 5 slots with freed places, 6 the patient's live
--       entries, 7 the account's offers, 8 audit
-- ARGV: 1 entry id, 2 at (ISO), 3 the slot id, 4 waiting still open ('1'/'0'), 5 audit actor
-- Returns {'ok', previous status} or {'gone', status}
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'waiting' and status ~= 'offered' then
  return {'gone', status or ''}
end
redis.call('HSET', KEYS[1], 'status', 'left', 'ended_at', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
redis.call('SREM', KEYS[7], ARGV[1])
if status == 'offered' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'wl_held', -1)
  to_waiters(KEYS[2], KEYS[3], KEYS[5], ARGV[3], ARGV[4] == '1')
else
  local waiting = redis.call('ZCARD', KEYS[3])
  if tonumber(redis.call('HGET', KEYS[2], 'wl_free') or '0') > waiting then
    redis.call('HSET', KEYS[2], 'wl_free', waiting)
  end
end
redis.call('XADD', KEYS[8], '*', 'at', ARGV[2], 'actor', ARGV[5], 'action', 'waitlist_left', 'serial', '',
           'pid', redis.call('HGET', KEYS[1], 'pid'), 'detail', 'slot=' .. ARGV[3] .. ' entry=' .. ARGV[1])
return {'ok', status}
