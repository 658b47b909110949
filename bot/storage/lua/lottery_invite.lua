-- An account's invitations to join a waitlist after losing a draw (bot.lottery, SPEC §8 "offered the waitlist").
-- KEYS: 1 keys.lottery_invites(acct)
-- ARGV: 1 mode 'invite' | 'drop', 2 field "<pid>|<slot id>", 3 (invite) when the slot's waiting ends (epoch),
--       4 (invite) how long the key is kept from now (s, counted on the deployment clock by the caller): its
--       lapse only ever moves later
-- Returns 1 when the invitation was written (or dropped), 0 when it was already there (or already gone).
if ARGV[1] == 'drop' then
  return redis.call('HDEL', KEYS[1], ARGV[2])
end
local new = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local keep = tonumber(ARGV[4])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or ttl < keep then
  redis.call('EXPIRE', KEYS[1], keep)
end
return new
