-- Right after a booking (bot.reminders.Reminders.on_booked; bot.confirmations), in one step: remember where its notifications go,
-- schedule its reminders, claim its confirmation and put it in line for the batch job that sends confirmations,
-- so the job always finds the address and a lapsed claim re-dispatches it. Members are spelled by
-- bot.reminders.ReminderDue. Whether the caller must queue a batch job: only when none is queued or running (the
-- job flag was not set; the job that finds the line empty deletes it, in confirmations_done.lua).
-- KEYS: 1 keys.appointment_notify(serial), 2 keys.REMINDERS_DUE, 3 keys.REMINDERS_CLAIMED,
--       4 keys.CONFIRMATIONS_WAITING, 5 keys.CONFIRMATIONS_JOB
-- ARGV: 1 channel, 2 the address (encrypted), 3 the address is kept until (epoch s), 4 the confirmation's claim
--       member, 5 claim lease (s), 6 wall now (epoch s; "" for the server's clock, as the dispatcher's),
--       7 the waiting line's lifetime (s), 8 the job flag's lifetime (s), 9 the id of the job to queue if none is,
--       10.. pairs of (due, member) of the reminders (deployment epoch)
-- Returns 1 when the caller must queue a batch job, else 0.
redis.call('HSET', KEYS[1], 'channel', ARGV[1], 'to_enc', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
if #ARGV > 9 then
  redis.call('ZADD', KEYS[2], unpack(ARGV, 10))
end
local now = tonumber(ARGV[6])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1e6
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[7])
if redis.call('SET', KEYS[5], ARGV[9], 'NX', 'EX', ARGV[8]) then
  return 1
end
return 0
