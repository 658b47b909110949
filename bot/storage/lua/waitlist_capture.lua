-- Places for sale in a slot that has waiters (staff raised its capacity) go to the waiters first: as many as wait
-- beyond the places already freed for them; atomically.
-- KEYS: 1 the slot, 2 the slot's queue, 3 slots with freed places
-- ARGV: 1 the slot id
-- Returns the number of places freed for the waiters
local slot = redis.call('HMGET', KEYS[1], 'capacity', 'taken', 'status', 'wl_free', 'wl_held')
if not slot[1] or slot[3] ~= 'open' then
  return 0
end
local free = tonumber(slot[4] or '0')
local for_sale = tonumber(slot[1]) - tonumber(slot[2]) - free - tonumber(slot[5] or '0')
local n = math.min(for_sale, redis.call('ZCARD', KEYS[2]) - free)
if n <= 0 then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'wl_free', n)
redis.call('SADD', KEYS[3], ARGV[1])
return n
