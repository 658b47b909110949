-- Create a broadcast with its snapshot of selected serials (bot.broadcasts.Broadcasts.create), unless an unfinished
-- broadcast with the same parameters exists: then that one's id is returned and nothing is written. A created
-- broadcast is recorded in the audit trail (action broadcast_created, by the hash's actor) in the same step.
-- KEYS: 1 keys.broadcast(id), 2 keys.broadcast_serials(id), 3 keys.BROADCASTS_ACTIVE, 4 keys.broadcast_fingerprint,
--       5 keys.AUDIT
-- ARGV: 1 id, 2 the hash's fields (a JSON object), 3 active (1: not finished yet), 4 audit detail, 5.. the serials
-- Returns {1, id} when created, {0, existing id} otherwise.
local existing = redis.call('GET', KEYS[4])
if existing and redis.call('SISMEMBER', KEYS[3], existing) == 1 then
  return {0, existing}
end
local fields = {}
local meta = cjson.decode(ARGV[2])
for name, value in pairs(meta) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))
for i = 5, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('SET', KEYS[4], ARGV[1])
end
redis.call('XADD', KEYS[5], '*', 'at', meta['created_at'], 'actor', meta['actor'], 'action', 'broadcast_created',
  'serial', '', 'pid', '', 'detail', ARGV[4])
return {1, ARGV[1]}
