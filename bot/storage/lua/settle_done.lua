-- Forget a settled change (its outcome was sent).
-- KEYS: 1 settlement hash, 2 settle due (zset)
-- Returns: 1
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return 1
