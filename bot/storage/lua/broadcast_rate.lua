-- A token bucket per channel shared by every worker (bot.broadcasts): take n tokens, possibly going into debt.
-- KEYS: 1 keys.send_rate(channel)
-- ARGV: 1 rate (tokens per second), 2 burst (bucket size), 3 wall now (epoch s), 4 n
-- Returns how long (seconds, as a string) the caller waits before sending those n: "0" when within the budget.
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local rate, burst, now, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate) - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('EXPIRE', KEYS[1], 3600)
if tokens >= 0 then
  return '0'
end
return tostring(-tokens / rate)
