-- Commit a lottery draw at its window's end, all or nothing (bot.lottery, RULES §12): the places in draw order,
-- each re-checked as book.lua re-checks a booking (the patient's record unchanged since the decision, the slot open
-- with a place left, a free serial), every registrant's outcome kept and marked untold, the draw audited (seed,
-- hashed entrants, order). A draw already committed is left alone: running it again changes nothing.
-- KEYS: 1 keys.lottery, 2 keys.lottery_outcomes, 3 keys.lottery_untold, 4 keys.ALL_APPOINTMENTS, 5 keys.NO_SHOW_DUE,
--       6 keys.AUDIT, then per winner (6 + C keys): slot, patient version, patient appointments, slot appointments,
--       date appointments, patient hash, C appointment key candidates
-- ARGV: 1 at (ISO), 2 the audit detail (JSON: hospital, date, seed, entrants, order, drawn), 3 booked_at (epoch),
--       4 outcomes (JSON object pid -> outcome; a winner's gets serial and queue_no here), 5 C, 6 winners W,
--       7 TTL of the outcome keys (s), 8 seed, then per winner (5 + C args): pid, expected version, visit start
--       (epoch), no-show due (epoch), the appointment's fields (JSON), C serial candidates
-- Returns {'ok', serial1, queue_no1, ...} | {'done'} | {'moved', i} | {'full', i} | {'serial_clash', i}
if redis.call('HEXISTS', KEYS[1], 'drawn_at') == 1 then
  return {'done'}
end
local C, W = tonumber(ARGV[5]), tonumber(ARGV[6])
local function key_of(i, n) return KEYS[6 + (i - 1) * (6 + C) + n] end
local function arg_of(i, n) return ARGV[8 + (i - 1) * (5 + C) + n] end

-- check everything first: nothing is written unless every winner still fits
local wanted, chosen, serials = {}, {}, {}
for i = 1, W do
  if (redis.call('GET', key_of(i, 2)) or '0') ~= arg_of(i, 2) then
    return {'moved', i}
  end
  local slot = redis.call('HMGET', key_of(i, 1), 'capacity', 'taken', 'status')
  wanted[key_of(i, 1)] = (wanted[key_of(i, 1)] or 0) + 1
  if not slot[1] or slot[3] ~= 'open' or tonumber(slot[2]) + wanted[key_of(i, 1)] > tonumber(slot[1]) then
    return {'full', i}
  end
  for n = 1, C do
    local serial = arg_of(i, 5 + n)
    if not chosen[serial] and redis.call('EXISTS', key_of(i, 6 + n)) == 0 then
      chosen[serial], serials[i] = true, n
      break
    end
  end
  if not serials[i] then
    return {'serial_clash', i}
  end
end

local outcomes = cjson.decode(ARGV[4])
local reply = {'ok'}
for i = 1, W do
  local slot_key, n = key_of(i, 1), serials[i]
  local serial, key, pid = arg_of(i, 5 + n), key_of(i, 6 + n), arg_of(i, 1)
  redis.call('HINCRBY', slot_key, 'taken', 1)
  local queue_no = redis.call('HINCRBY', slot_key, 'next_queue', 1)
  local name_masked = redis.call('HGET', key_of(i, 6), 'nm') or ''
  local fields = {'serial', serial, 'queue_no', queue_no, 'status', 'booked', 'patient_name_masked', name_masked}
  for name, value in pairs(cjson.decode(arg_of(i, 5))) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('ZADD', key_of(i, 3), ARGV[3], serial)
  redis.call('ZADD', key_of(i, 4), queue_no, serial)
  redis.call('SADD', key_of(i, 5), serial)
  redis.call('ZADD', KEYS[4], arg_of(i, 3), serial)
  redis.call('ZADD', KEYS[5], arg_of(i, 4), serial)
  redis.call('INCR', key_of(i, 2))
  outcomes[pid]['serial'] = serial
  outcomes[pid]['queue_no'] = queue_no
  redis.call('XADD', KEYS[6], '*', 'at', ARGV[1], 'actor', 'system', 'action', 'booked', 'serial', serial,
             'pid', pid, 'detail', 'queue_no=' .. queue_no .. ' lottery position=' .. outcomes[pid]['position'])
  reply[#reply + 1] = serial
  reply[#reply + 1] = queue_no
end
local told = 0
for pid, outcome in pairs(outcomes) do
  redis.call('HSET', KEYS[2], pid, cjson.encode(outcome))
  redis.call('SADD', KEYS[3], pid)
  told = told + 1
end
redis.call('HSET', KEYS[1], 'drawn_at', ARGV[1], 'seed', ARGV[8], 'winners', W, 'registrants', told)
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[7])
end
redis.call('XADD', KEYS[6], '*', 'at', ARGV[1], 'actor', 'system', 'action', 'lottery_drawn', 'serial', '',
           'pid', '', 'detail', ARGV[2])
return reply
