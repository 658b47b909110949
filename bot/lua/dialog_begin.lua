-- Start processing one inbound message: claim its delivery (dedupe) and take the user's lock, in one round trip.
-- KEYS: 1 user lock, 2 delivery key (optional: absent when the message has no id)
-- ARGV: 1 lock token, 2 lock ttl (ms), 3 pending marker, 4 pending ttl (s)
-- Returns: {'ok'} | {'locked'} (delivery claimed, lock busy: retry the lock) | {'seen', stored reply or marker}
if KEYS[2] then
  if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) then
    return {'seen', redis.call('GET', KEYS[2])}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'ok'}
end
return {'locked'}
