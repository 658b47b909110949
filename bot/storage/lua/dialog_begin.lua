-- Start processing one inbound message in one round trip: claim its delivery (dedupe), take the user's lock, and
-- with the lock load the session and count the message for the rate limit.
-- KEYS: 1 user lock, 2 session hash, 3 rate counter (this minute), 4 delivery key (optional: no message id)
-- ARGV: 1 lock token, 2 lock ttl (ms), 3 pending marker, 4 pending ttl (s)
-- Returns: {'ok', session fields, messages this minute} | {'locked'} (delivery claimed, lock busy: retry the lock
--          without KEYS[4]) | {'seen', stored reply or marker}
if KEYS[4] then
  if not redis.call('SET', KEYS[4], ARGV[3], 'NX', 'EX', ARGV[4]) then
    return {'seen', redis.call('GET', KEYS[4])}
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'locked'}
end
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 120)
return {'ok', redis.call('HGETALL', KEYS[2]), count}
