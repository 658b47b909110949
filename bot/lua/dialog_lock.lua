-- Take the user's lock (a retry after dialog_begin found it busy).
-- KEYS: 1 user lock; ARGV: 1 token, 2 ttl (ms). Returns 1 when taken.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
