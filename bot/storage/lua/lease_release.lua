-- Give a lease back, only if the caller still holds it (a lease that lapsed and was taken by another stays).
-- KEYS: 1 lease key
-- ARGV: 1 the holder's token
-- Returns: 1 when released, 0 otherwise
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
