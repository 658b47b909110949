-- Record a change whose outcome the patient is still to be told (bot.settle); idempotent (re-run until confirmed).
-- KEYS: 1 settlement hash, 2 settle due (zset)
-- ARGV: 1 the sealed record, 2 now (epoch seconds)
-- Returns: 1
redis.call('HSET', KEYS[1], 'record', ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], KEYS[1])
return 1
