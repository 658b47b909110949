-- Record once that a hospital's visit date entered the booking window (bot.release.release_days).
-- KEYS: 1 keys.day_released(hospital, date), 2 keys.AUDIT
-- ARGV: 1 at (ISO), 2 detail, 3 flag TTL (s)
-- Returns 1 when recorded now, 0 when it already was.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[1], 'actor', 'system', 'action', 'day_released', 'serial', '',
  'pid', '', 'detail', ARGV[2])
return 1
