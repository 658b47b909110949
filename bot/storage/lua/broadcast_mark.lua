-- Count what a batch did with some recipients, each serial once whatever the retries (bot.broadcasts), note the
-- progress, and finish the broadcast when every selected serial is counted.
-- KEYS: 1 keys.broadcast(id), 2 keys.broadcast_done(id), 3 keys.BROADCASTS_ACTIVE, 4 keys.broadcast_fingerprint
-- ARGV: 1 wall now (epoch s), 2 the broadcast id, 3.. pairs of serial, outcome ("sent" | "failed" | "skipped")
-- Returns the status after the change.
for i = 3, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)
  end
end
local h = redis.call('HMGET', KEYS[1], 'status', 'total', 'sent', 'failed')
local status = h[1]
if not status then
  return ''
end
redis.call('HSET', KEYS[1], 'heartbeat', ARGV[1])
if status == 'queued' then
  status = 'running'
  redis.call('HSET', KEYS[1], 'status', status)
end
if status == 'running' and redis.call('SCARD', KEYS[2]) >= tonumber(h[2]) then
  local sent, failed = tonumber(h[3] or '0'), tonumber(h[4] or '0')
  status = 'done'
  if sent == 0 and failed > 0 then
    status = 'failed'
  end
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[2])
  if redis.call('GET', KEYS[4]) == ARGV[2] then
    redis.call('DEL', KEYS[4])
  end
end
return status
