-- Create a broadcast with its snapshot of selected serials (bot.broadcasts.Broadcasts.create), unless an unfinished
-- broadcast with the same parameters exists: then that one's id is returned and nothing is written.
-- KEYS: 1 keys.broadcast(id), 2 keys.broadcast_serials(id), 3 keys.BROADCASTS_ACTIVE, 4 keys.broadcast_fingerprint
-- ARGV: 1 id, 2 the hash's fields (a JSON object), 3 active (1: not finished yet), 4.. the serials
-- Returns {1, id} when created, {0, existing id} otherwise.
local existing = redis.call('GET', KEYS[4])
if existing and redis.call('SISMEMBER', KEYS[3], existing) == 1 then
  return {0, existing}
end
local fields = {}
for name, value in pairs(cjson.decode(ARGV[2])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))
for i = 4, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('SET', KEYS[4], ARGV[1])
end
return {1, ARGV[1]}
