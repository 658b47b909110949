-- uses: audit, booking
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
local function key_index(i, n) return 6 + (i - 1) * (6 + C) + n end
local function arg_index(i, n) return 8 + (i - 1) * (5 + C) + n end
local function key_of(i, n) return KEYS[key_index(i, n)] end
local function arg_of(i, n) return ARGV[arg_index(i, n)] end

-- check everything first: nothing is written unless every winner still fits
local wanted, chosen, picked = {}, {}, {}
for i = 1, W do
  if not version_unchanged(key_of(i, 2), arg_of(i, 2)) then
    return {'moved', i}
  end
  -- the places for sale, as slot_for_sale counts them: a place freed for the waitlist or held for a waiter is not
  local slot = redis.call('HMGET', key_of(i, 1), 'capacity', 'taken', 'status', 'wl_free', 'wl_held')
  wanted[key_of(i, 1)] = (wanted[key_of(i, 1)] or 0) + 1
  local held = tonumber(slot[4] or '0') + tonumber(slot[5] or '0')
  if not slot[1] or slot[3] ~= 'open' or tonumber(slot[2]) + held + wanted[key_of(i, 1)] > tonumber(slot[1]) then
    return {'full', i}
  end
  local serial, key = free_serial(key_index(i, 7), arg_index(i, 6), C, chosen)
  if not serial then
    return {'serial_clash', i}
  end
  chosen[serial], picked[i] = true, {serial = serial, key = key}
end

local outcomes = cjson.decode(ARGV[4])
local reply = {'ok'}
for i = 1, W do
  local pid, serial = arg_of(i, 1), picked[i].serial
  local queue_no = write_appointment({
    slot = key_of(i, 1), version = key_of(i, 2), patient_appointments = key_of(i, 3),
    slot_appointments = key_of(i, 4), date_appointments = key_of(i, 5), all_appointments = KEYS[4],
    no_show_due = KEYS[5], patient = key_of(i, 6), key = picked[i].key, serial = serial, booked_at = ARGV[3],
    visit_start = arg_of(i, 3), no_show_at = arg_of(i, 4), fields = cjson.decode(arg_of(i, 5)),
  })
  outcomes[pid]['serial'] = serial
  outcomes[pid]['queue_no'] = queue_no
  audit(KEYS[6], ARGV[1], 'system', 'booked', serial, pid,
        'queue_no=' .. queue_no .. ' lottery position=' .. outcomes[pid]['position'])
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
audit(KEYS[6], ARGV[1], 'system', 'lottery_drawn', '', '', ARGV[2])
return reply
