-- Drop a slot of a past day once no appointment of it is left in Redis (the schedule is not archived: the
-- archived appointments carry their slot's fields).
-- KEYS: 1 slot, 2 slot appointments, 3 slots of the hospital's day, 4 slots of the department's day, 5 the schedule's
--       version (keys.SCHEDULE_VERSION)
-- ARGV: 1 slot id, 2 a new random version token (bot.schedule_cache)
-- Returns 1 dropped, 0 kept (appointments left)
if redis.call('ZCARD', KEYS[2]) > 0 then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SET', KEYS[5], ARGV[2])
return 1
