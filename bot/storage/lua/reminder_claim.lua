-- Claim reminder entries for dispatch (bot.reminders.Reminders.dispatch_due): those due on the deployment clock
-- move from the due set to the claimed set, and claims that lapsed (their job never finished) are renewed, all in one
-- step, so two dispatchers never hand out the same entry. Members are spelled by bot.reminders.ReminderDue.
-- KEYS: 1 keys.REMINDERS_DUE (member "<serial>|<kind>", score: due, deployment epoch),
--       2 keys.REMINDERS_CLAIMED (member "<serial>|<kind>|<due>", score: claim lapses, wall epoch)
-- ARGV: 1 deployment now (epoch s), 2 wall now (epoch s), 3 claim lease (s), 4 at most this many entries
-- Returns {new claims, renewed lapsed claims}: two lists of "<serial>|<kind>|<due>".
local limit = tonumber(ARGV[4])
local lapse = tonumber(ARGV[2]) + tonumber(ARGV[3])
local fresh = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #due, 2 do
  local member = due[i] .. '|' .. string.format('%d', tonumber(due[i + 1]))
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], lapse, member)
  fresh[#fresh + 1] = member
end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, limit)
for _, member in ipairs(lapsed) do
  redis.call('ZADD', KEYS[2], lapse, member)
end
return {fresh, lapsed}
