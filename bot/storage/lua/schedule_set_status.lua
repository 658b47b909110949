-- Set the status of an existing slot (bot.schedule.Schedule.set_slot_status); never creates a slot.
-- KEYS[1] the slot hash (keys.slot); ARGV[1] the status ("open" | "suspended").
-- Returns 1 when the slot exists (status set), 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
