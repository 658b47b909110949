-- uses: audit, booking
-- Join a slot's waitlist (候补), atomically with the checks that can change concurrently.
-- KEYS: 1 the new entry, 2 the slot, 3 the slot's queue, 4 the slot's every-entry index, 5 the patient's live entries,
--       6 the account's entries, 7 the date's waitlisted slots, 8 waitlist ends, 9 the patient version, 10 audit,
--       11 the entry sequence, 12 the dates with waitlists
-- ARGV: 1 entry id, 2 expected patient version, 3 at most this many live entries, 4 waiting ends (epoch),
--       5 audit actor, 6 at (ISO), 7 the entry's fields (JSON), 8 the slot id, 9 the entry key prefix, 10 the date
-- Returns {'ok', position} or {'moved'} / {'available'} (a place is for sale: book it) / {'closed'} / {'no_slot'}
--         / {'already'} / {'max'}
if not version_unchanged(KEYS[9], ARGV[2]) then
  return {'moved'}
end
local slot = slot_for_sale(KEYS[2])
if slot ~= 'full' then
  return {slot}
end
local live = redis.call('SMEMBERS', KEYS[5])
for _, id in ipairs(live) do
  if redis.call('HGET', ARGV[9] .. id, 'slot') == ARGV[8] then
    return {'already'}
  end
end
if #live >= tonumber(ARGV[3]) then
  return {'max'}
end
local seq = redis.call('INCR', KEYS[11])
local fields = {'id', ARGV[1], 'slot', ARGV[8], 'status', 'waiting', 'seq', seq, 'joined_at', ARGV[6]}
for name, value in pairs(cjson.decode(ARGV[7])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[6], seq, ARGV[1])
redis.call('SADD', KEYS[7], ARGV[8])
redis.call('SADD', KEYS[12], ARGV[10])
redis.call('ZADD', KEYS[8], ARGV[4], ARGV[8])
audit(KEYS[10], ARGV[6], ARGV[5], 'waitlist_joined', '', redis.call('HGET', KEYS[1], 'pid'),
      'slot=' .. ARGV[8] .. ' entry=' .. ARGV[1])
return {'ok', redis.call('ZRANK', KEYS[3], ARGV[1]) + 1}
