-- Finish one message: save the session, store the reply for retries, release the lock if still ours — at once.
-- KEYS: 1 session hash, 2 user lock, 3 delivery key (optional)
-- ARGV: 1 lock token, 2 session ttl (s), 3 reply (encrypted by the engine), 4 reply ttl (s), 5.. session field/value
-- pairs (the data field encrypted by the engine)
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
