-- Make a patient the account's active one, if the account manages it ('a' = the order of that patient's 'p:<pid>').
-- KEYS: 1 account.  ARGV: 1 pid.  Returns 1 if set, 0 if the account does not manage it.
local order = redis.call('HGET', KEYS[1], 'p:' .. ARGV[1])
if not order then
  return 0
end
redis.call('HSET', KEYS[1], 'a', order)
return 1
