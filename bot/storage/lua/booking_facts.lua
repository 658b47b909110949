-- Everything a booking decision needs, in one round trip (read-only).
-- KEYS: 1 slot, 2 patient version, 3 patient appointments (zset by booked_at), 4 violations (zset), 5 waived (set),
--       6 standing (hash)
-- ARGV: 1 appointment key prefix, 2 lowest booked_at (epoch seconds) worth reading
-- Returns: {slot fields, version, {appointment field lists}, violations with scores, waived serials, standing fields}
local appointments = {}
for _, serial in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[2], '+inf')) do
  appointments[#appointments + 1] = redis.call('HGETALL', ARGV[1] .. serial)
end
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('GET', KEYS[2]) or '0',
  appointments,
  redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES'),
  redis.call('SMEMBERS', KEYS[5]),
  redis.call('HGETALL', KEYS[6]),
}
