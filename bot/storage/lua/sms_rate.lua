-- One SMS to one phone, within the per-phone limits of a mainland provider (minute, hour, day): counted in all three
-- windows at once, or in none when one of them is full.
-- KEYS: the minute, hour and day counters (keys.sms_rate)
-- ARGV: the three limits (0 = none), then the three windows' lifetimes in seconds
-- Returns {1, 0} when counted, {0, i} when window i (1 minute, 2 hour, 3 day) is full.
for i = 1, 3 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    return {0, i}
  end
end
for i = 1, 3 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3 + i]))
end
return {1, 0}
