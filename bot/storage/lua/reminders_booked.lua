-- Right after a booking (bot.reminders.Reminders.on_booked), in one step: remember where its notifications go,
-- schedule its reminders and claim its confirmation (whose job the caller enqueues next), so the confirmation's job
-- always finds the address and a lapsed claim re-dispatches it. Members are spelled by bot.reminders.ReminderDue.
-- KEYS: 1 keys.appointment_notify(serial), 2 keys.REMINDERS_DUE, 3 keys.REMINDERS_CLAIMED
-- ARGV: 1 channel, 2 the address (encrypted), 3 the address is kept until (epoch s), 4 the confirmation's claim
--       member, 5 claim lease (s), 6 wall now (epoch s; "" for the server's clock, as the dispatcher's),
--       7.. pairs of (due, member) of the reminders (deployment epoch)
-- Returns 1.
redis.call('HSET', KEYS[1], 'channel', ARGV[1], 'to_enc', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
if #ARGV > 6 then
  redis.call('ZADD', KEYS[2], unpack(ARGV, 7))
end
local now = tonumber(ARGV[6])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1e6
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
return 1
