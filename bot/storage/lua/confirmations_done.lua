-- The confirmations' batch job ends (bot.confirmations.ConfirmationJob): only when none is waiting, and then its flag
-- goes in the same step (unless another job holds it by now), so a booking landing after this queues a new job
-- (reminders_booked.lua sets the flag again) and none is left waiting without a job to send it.
-- KEYS: 1 keys.CONFIRMATIONS_WAITING, 2 keys.CONFIRMATIONS_JOB
-- ARGV: 1 the job's id
-- Returns 1 when the job may end, 0 when more came (take them first).
if redis.call('LLEN', KEYS[1]) > 0 then
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
