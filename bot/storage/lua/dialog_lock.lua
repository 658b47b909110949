-- Take the user's lock (a retry after dialog_begin found it busy) and, with it, load the session and count the
-- message for the rate limit.
-- KEYS: 1 user lock, 2 session hash, 3 rate counter (this minute); ARGV: 1 token, 2 ttl (ms)
-- Returns: {'ok', session fields, messages this minute} | {'locked'}
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'locked'}
end
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 120)
return {'ok', redis.call('HGETALL', KEYS[2]), count}
