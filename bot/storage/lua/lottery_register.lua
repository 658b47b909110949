-- Register one patient for one slot in the lottery draw of a release window (bot.lottery, RULES §12), atomically:
-- one entry per patient per slot; an account, and a phone, enter at most ARGV[4] patients into one draw.
-- KEYS: 1 keys.lottery (the draw), 2 keys.lottery_entries, 3 keys.lottery_account, 4 keys.lottery_phone,
--       5 keys.LOTTERY_DUE
-- ARGV: 1 entry field "<pid>|<slot id>", 2 pid, 3 the entry (JSON object, its seq added here), 4 limit,
--       5 draw id "<hospital>|<date>", 6 window end (epoch), 7 hospital, 8 date, 9 TTL of the draw's keys (s),
--       10 now (epoch)
-- Returns {'ok', seq} | {'duplicate'} | {'closed'} (drawn, or the window has ended) | {'account'} | {'phone'}
if redis.call('HEXISTS', KEYS[1], 'drawn_at') == 1 or tonumber(ARGV[10]) >= tonumber(ARGV[6]) then
  return {'closed'}
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return {'duplicate'}
end
local pid, limit = ARGV[2], tonumber(ARGV[4])
if redis.call('SISMEMBER', KEYS[3], pid) == 0 and redis.call('SCARD', KEYS[3]) >= limit then
  return {'account'}
end
if redis.call('SISMEMBER', KEYS[4], pid) == 0 and redis.call('SCARD', KEYS[4]) >= limit then
  return {'phone'}
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = cjson.decode(ARGV[3])
entry['seq'] = seq
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(entry))
redis.call('SADD', KEYS[3], pid)
redis.call('SADD', KEYS[4], pid)
redis.call('HSET', KEYS[1], 'hospital', ARGV[7], 'date', ARGV[8], 'window_end', ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[5])
for i = 1, 4 do
  redis.call('EXPIRE', KEYS[i], ARGV[9])
end
return {'ok', seq}
