-- Take a lease that is free, or extend one this holder already has (SET NX PX, token-checked renewal).
-- KEYS: 1 lease key
-- ARGV: 1 the holder's token, 2 lease length (milliseconds)
-- Returns: 1 when the caller holds the lease now, 0 when another does
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
