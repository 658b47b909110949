-- Start processing one inbound message in one round trip: claim its delivery (dedupe), take the user's lock, and
-- with the lock load the session, the account's language and whether it holds a waitlist offer, and count the message
-- for the rate limit, and read the schedule's version (what this process cached of the schedule is valid for).
-- KEYS: 1 user lock, 2 session hash, 3 rate counter (this minute), 4 account hash, 5 the account's waitlist offers,
--       6 the schedule's version (keys.SCHEDULE_VERSION),
--       7 delivery key (optional: no message id, or a retry of the lock for a delivery already claimed)
-- ARGV: 1 lock token, 2 lock ttl (ms), 3 pending marker, 4 pending ttl (s), 5 deferred marker (bot/delivery.py's),
--       6 'resume' when the worker finishes a delivery handed to it: go on while the delivery is pending or
--       deferred, else return what it holds (the step already ran)
-- Returns: {'ok', session fields, messages this minute, language or nil, 1 when offers are held else 0, the schedule's
--          version} | {'locked'} (delivery claimed, lock busy: retry without KEYS[7]) | {'seen', stored reply or marker}
if KEYS[7] then
  if ARGV[6] == 'resume' then
    local held = redis.call('GET', KEYS[7])
    if held and held ~= ARGV[3] and held ~= ARGV[5] then
      return {'seen', held}
    end
  elseif not redis.call('SET', KEYS[7], ARGV[3], 'NX', 'EX', ARGV[4]) then
    return {'seen', redis.call('GET', KEYS[7])}
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'locked'}
end
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 120)
local language = redis.call('HGET', KEYS[4], 'language')
local version = redis.call('GET', KEYS[6])
if not version then  -- none yet (a deployment from before versions, a Redis that lost its data): the random lock token
  version = ARGV[1]
  redis.call('SET', KEYS[6], version)
end
return {'ok', redis.call('HGETALL', KEYS[2]), count, language, redis.call('EXISTS', KEYS[5]), version}
