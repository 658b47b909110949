-- What changes of slots without a new schedule version (bot.schedule_cache.LIVE_FIELDS): one read for many slots.
-- KEYS: the slot hashes (keys.slot)
-- ARGV: the field names (bot.schedule_cache.LIVE_FIELDS)
-- Returns, for each key in order, its values of those fields (false where the slot or the field is missing), flat.
local found = {}
for _, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  for i = 1, #ARGV do
    found[#found + 1] = values[i]
  end
end
return found
