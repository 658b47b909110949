-- Remove a patient from one account (the patient record, appointments and standing stay).
-- KEYS: 1 account ('p:<pid>' = the order each patient it manages was added in, 'a' = the active one's order).
-- ARGV: 1 pid.  Returns 1 if removed, 0 if absent.
local order = redis.call('HGET', KEYS[1], 'p:' .. ARGV[1])
if not order then
  return 0
end
redis.call('HDEL', KEYS[1], 'p:' .. ARGV[1])
if redis.call('HGET', KEYS[1], 'a') == order then
  local fields = redis.call('HGETALL', KEYS[1])
  local lowest = nil
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'p:' and (not lowest or tonumber(fields[i + 1]) < lowest) then
      lowest = tonumber(fields[i + 1])
    end
  end
  if lowest then
    redis.call('HSET', KEYS[1], 'a', lowest)
  else
    redis.call('HDEL', KEYS[1], 'a')
  end
end
return 1
