-- The batch job's next confirmations (bot.reminders.Reminders.send_confirmations): up to a count of the claims
-- waiting, oldest first; when that leaves none, the job flag goes in the same step, so the next booking queues a
-- new job (reminders_booked.lua sets it again) and none is left waiting without a job to send it.
-- KEYS: 1 keys.CONFIRMATIONS_WAITING, 2 keys.CONFIRMATIONS_JOB
-- ARGV: 1 at most this many
-- Returns {claims taken, 1 when none is left waiting (the flag deleted) else 0}.
local taken = redis.call('LPOP', KEYS[1], ARGV[1]) or {}
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return {taken, 1}
end
return {taken, 0}
