-- Rename the fields of one hash to the current layout (bot.storage.migrate); never overwrites a field already
-- written under its new name (by the current code, after the upgrade).
-- KEYS: 1 the hash.  ARGV: pairs of old name, new name ("" = drop the field).
-- An account's 'active' (a pid, layout 1) becomes 'a' (the order of that pid's 'p:<pid>' field).
-- Returns how many fields were renamed or dropped.
local changed = 0
for i = 1, #ARGV, 2 do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value then
    if ARGV[i + 1] ~= '' then
      redis.call('HSETNX', KEYS[1], ARGV[i + 1], value)
    end
    redis.call('HDEL', KEYS[1], ARGV[i])
    changed = changed + 1
  end
end
local active = redis.call('HGET', KEYS[1], 'active')
if active then
  local order = redis.call('HGET', KEYS[1], 'p:' .. active)
  if order then
    redis.call('HSETNX', KEYS[1], 'a', order)
  end
  redis.call('HDEL', KEYS[1], 'active')
  changed = changed + 1
end
return changed
