-- The batch job of confirmations ends (bot.reminders.Reminders.send_confirmations): only when none is waiting, and
-- then its flag goes in the same step, so a booking landing after this queues a new job (reminders_booked.lua sets
-- the flag again) and none is left waiting without a job to send it.
-- KEYS: 1 keys.CONFIRMATIONS_WAITING, 2 keys.CONFIRMATIONS_JOB
-- Returns 1 when the job may end (the flag deleted), 0 when more came (take them first).
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
