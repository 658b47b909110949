-- Fix the outcome of a deferred change: the appointment's status as read now (kept once set), and a write for the
-- WAIT that follows to cover (a confirmed WAIT makes what was read here durable).
-- KEYS: 1 settlement hash, 2 appointment hash
-- ARGV: 1 now (epoch seconds)
-- Returns: {'ok', status ('' when there is no such appointment)} or {'gone'} (settled already)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'gone'}
end
local outcome = redis.call('HGET', KEYS[1], 'outcome')
if not outcome then
  outcome = redis.call('HGET', KEYS[2], 'status') or ''
  redis.call('HSET', KEYS[1], 'outcome', outcome)
end
redis.call('HSET', KEYS[1], 'checked_at', ARGV[1])
return {'ok', outcome}
