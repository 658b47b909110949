-- Drop a slot of a past day once no appointment of it is left in Redis (the schedule is not archived: the
-- archived appointments carry their slot's fields).
-- The day leaves the hospital's dates with its last slot, in the same step as the version changes, so a dialog step
-- never caches a date list that still has it under the new version.
-- KEYS: 1 slot, 2 slot appointments, 3 slots of the hospital's day, 4 slots of the department's day, 5 the schedule's
--       version (keys.SCHEDULE_VERSION), 6 the hospital's dates (keys.schedule_dates)
-- ARGV: 1 slot id, 2 a new random version token (bot.schedule_cache), 3 the day (YYYY-MM-DD)
-- Returns 1 dropped, 0 kept (appointments left)
if redis.call('ZCARD', KEYS[2]) > 0 then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[6], ARGV[3])
end
redis.call('SET', KEYS[5], ARGV[2])
return 1
