-- Give up on a message (the lock could not be taken): free its delivery claim so the platform's retry can try.
-- KEYS: 1 delivery key. ARGV: 1 pending marker.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
