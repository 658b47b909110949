-- Record one console (outbox) message and its send-once mark in one step
-- (adapters.console.sender.AtomicConsoleSender), so a process killed at any moment leaves either both or neither:
-- a retry never records twice, nor loses the message.
-- KEYS: 1 the send-once key (keys.sent), 2 the outbox stream (keys.OUTBOX), 3 the recipient's index (keys.outbox_of)
-- ARGV: 1 send-once TTL (s; 0: no send-once key, record every time), 2 stream MAXLEN (approximate), 3 messages kept per recipient, 4.. the stream fields
-- Returns {1, stream id} when recorded now, {0, earlier result} when the key was already used.
local once = ARGV[1] ~= '0'
local earlier = once and redis.call('GET', KEYS[1])
if earlier then
  return {0, earlier}
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
local ms, seq = string.match(id, '(%d+)-(%d+)')
redis.call('ZADD', KEYS[3], tonumber(ms) * 1000 + math.min(tonumber(seq), 999), id)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
if once then
  redis.call('SET', KEYS[1], cjson.encode({ok = true, provider_id = id, error = cjson.null}), 'EX', ARGV[1])
end
return {1, id}
