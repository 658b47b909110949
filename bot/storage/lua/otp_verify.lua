-- Check a one-time code: right = used up (deleted); wrong = one attempt more; at the limit the code is burnt.
-- KEYS: 1 otp (phone, purpose).  ARGV: 1 code hash, 2 now ms, 3 max attempts, 4 "1" if the code is malformed
-- (not counted as an attempt).  Returns ok | wrong | expired | too_many_attempts | none.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'none'
end
local stored = redis.call('HMGET', KEYS[1], 'code_hash', 'attempts', 'expires_at')
local max = tonumber(ARGV[3])
if tonumber(ARGV[2]) >= tonumber(stored[3]) then
  redis.call('DEL', KEYS[1])
  return 'expired'
end
if tonumber(stored[2]) >= max then
  return 'too_many_attempts'
end
if ARGV[4] == '1' then
  return 'wrong'
end
if stored[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 'ok'
end
if redis.call('HINCRBY', KEYS[1], 'attempts', 1) >= max then
  return 'too_many_attempts'
end
return 'wrong'
