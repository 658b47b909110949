-- Hand a claimed delivery to the worker (its step could not run in time): a retry then answers nothing, and the
-- worker, which runs the step, pushes the reply. Only a claim still pending changes.
-- KEYS: 1 delivery key. ARGV: 1 pending marker, 2 deferred marker, 3 ttl (s).
-- Returns 1 when handed over, 0 when the delivery held something else.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
