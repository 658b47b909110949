-- Remove archived audit entries from the stream (entries never change: present means the one archived).
-- KEYS: 1 audit stream, 2 archive pending
-- ARGV: stream ids; each one's pending field is 'audit:' .. id
-- Returns how many were removed
local removed = 0
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[2], 'audit:' .. ARGV[i])
  removed = removed + redis.call('XDEL', KEYS[1], ARGV[i])
end
return removed
