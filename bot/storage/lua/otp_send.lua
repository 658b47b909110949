-- Store a new one-time code for a phone, within the send limits (times from the injected clock, in ms).
-- KEYS: 1 otp (phone, purpose), 2 otp sends (phone)
-- ARGV: 1 now ms, 2 resend ms, 3 max per hour, 4 ttl ms, 5 code hash, 6 send id (unique member)
-- Returns {"ok", expires ms} | {"wait", retry after ms, "resend"|"hourly"}
local now = tonumber(ARGV[1])
local resend = tonumber(ARGV[2])
local hour = 3600000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - hour)
local last = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < resend then
  return {'wait', tostring(tonumber(last[2]) + resend), 'resend'}
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'wait', tostring(tonumber(first[2]) + hour), 'hourly'}
end
redis.call('ZADD', KEYS[2], now, ARGV[6])
redis.call('PEXPIRE', KEYS[2], hour + resend)
local expires = now + tonumber(ARGV[4])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'code_hash', ARGV[5], 'attempts', 0, 'expires_at', tostring(expires),
  'sent_at', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {'ok', tostring(expires)}
