-- uses: waitlist
-- End an offer that was not taken (its hold lapsed, or the claim was refused by a rule) and pass the place on:
-- to the slot's next waiters while some wait (and waiting is open), else back to sale; atomically.
-- KEYS: 1 the entry, 2 the slot, 3 the slot's queue, 4 offers, 5 slots with freed places, 6 the patient's live
--       entries, 7 the account's offers, 8 audit
-- ARGV: 1 entry id, 2 now (epoch, deployment clock), 3 'expire' (only once the hold lapsed) | 'refuse', 4 at (ISO),
--       5 the slot id, 6 reason, 7 waiting still open ('1'/'0')
-- Returns {'ok', 'waitlist' | 'sale'} or {'gone'} (claimed, left or passed already) / {'early'} (hold not lapsed)
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' then
  return {'gone'}
end
if ARGV[3] == 'expire' and tonumber(redis.call('HGET', KEYS[1], 'hold_until')) > tonumber(ARGV[2]) then
  return {'early'}
end
redis.call('HSET', KEYS[1], 'status', 'expired', 'reason', ARGV[6], 'ended_at', ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
redis.call('SREM', KEYS[7], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'wl_held', -1)
local to = to_waiters(KEYS[2], KEYS[3], KEYS[5], ARGV[5], ARGV[7] == '1') and 'waitlist' or 'sale'
redis.call('XADD', KEYS[8], '*', 'at', ARGV[4], 'actor', 'system', 'action', 'waitlist_passed', 'serial', '',
           'pid', redis.call('HGET', KEYS[1], 'pid'), 'detail', 'slot=' .. ARGV[5] .. ' entry=' .. ARGV[1] ..
           ' reason=' .. ARGV[6] .. ' to=' .. to)
return {'ok', to}
