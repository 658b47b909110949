-- Remove one archived appointment from Redis, if it is still exactly what was written to the archive file.
-- With it go the patient's violations older than any standing can count (and their waivers).
-- KEYS: 1 appointment, 2 patient appointments, 3 slot appointments, 4 date appointments, 5 all appointments,
--       6 no-show due, 7 notify address, 8 archive pending, 9 patient violations, 10 patient waived
-- ARGV: 1 serial, 2 the archived fields (a JSON object of strings), 3 the pending entry's field,
--       4 violations scored below this (epoch seconds) can no longer count
-- Returns 1 removed, 0 changed since (kept: archived again later), -1 already gone
redis.call('HDEL', KEYS[8], ARGV[3])
local current = redis.call('HGETALL', KEYS[1])
if #current == 0 then
  return -1
end
local expected = cjson.decode(ARGV[2])
local count = 0
for _ in pairs(expected) do
  count = count + 1
end
if count * 2 ~= #current then
  return 0
end
for i = 1, #current, 2 do
  if expected[current[i]] ~= current[i + 1] then
    return 0
  end
end
redis.call('DEL', KEYS[1], KEYS[7])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
local spent = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', '(' .. ARGV[4])
if #spent > 0 then
  redis.call('ZREM', KEYS[9], unpack(spent))
  redis.call('SREM', KEYS[10], unpack(spent))
end
return 1
