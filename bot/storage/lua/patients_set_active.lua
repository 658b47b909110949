-- Make a patient the account's active one, if the account manages it.
-- KEYS: 1 account patients, 2 account.  ARGV: 1 pid.  Returns 1 if set, 0 if the account does not manage it.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'active', ARGV[1])
return 1
