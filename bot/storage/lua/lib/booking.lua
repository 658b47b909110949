-- Taking a place and writing the appointment, as every script that books does (book.lua, reschedule.lua,
-- waitlist_claim.lua, lottery_draw.lua; waitlist_join.lua asks whether a place is for sale): a prelude that
-- bot/storage/scripts.py puts before the scripts whose first line names it ('-- uses: audit, booking').

-- Whether the patient's record is still the one the decision read (its version unchanged).
local function version_unchanged(version_key, expected)
  return (redis.call('GET', version_key) or '0') == expected
end

-- What a new booking finds in a slot: 'no_slot', 'closed', 'full' or 'available'. A place freed for the waitlist, or
-- held for a waiter, is not for sale (bot.waitlist): the places for sale are capacity - taken - wl_free - wl_held.
local function slot_for_sale(slot_key)
  local slot = redis.call('HMGET', slot_key, 'capacity', 'taken', 'status', 'wl_free', 'wl_held')
  if not slot[1] then
    return 'no_slot'
  end
  if slot[3] ~= 'open' then
    return 'closed'
  end
  if tonumber(slot[2]) + tonumber(slot[4] or '0') + tonumber(slot[5] or '0') >= tonumber(slot[1]) then
    return 'full'
  end
  return 'available'
end

-- The first of `count` serial candidates (ARGV from `first_arg`, their appointment keys KEYS from `first_key`) whose
-- key is free and that is not in `chosen` (the serials this script took already, or nil): serial, key; nil if none.
local function free_serial(first_key, first_arg, count, chosen)
  for n = 0, count - 1 do
    local serial, key = ARGV[first_arg + n], KEYS[first_key + n]
    if not (chosen and chosen[serial]) and redis.call('EXISTS', key) == 0 then
      return serial, key
    end
  end
  return nil
end

-- Take a place in the slot and write the appointment with its indexes; the patient's version moves on.
-- `booking` names the keys and values: slot, version, patient_appointments, slot_appointments, date_appointments,
-- all_appointments, no_show_due, patient (the patient hash), key (the appointment's), serial, booked_at,
-- visit_start, no_show_at (epochs), fields (the appointment's other fields, a table).
-- Returns the queue number and the patient's masked name (bot.patients.Field).
local function write_appointment(booking)
  redis.call('HINCRBY', booking.slot, 'taken', 1)
  local queue_no = redis.call('HINCRBY', booking.slot, 'next_queue', 1)
  local name_masked = redis.call('HGET', booking.patient, 'nm') or ''
  local fields = {'serial', booking.serial, 'queue_no', queue_no, 'status', 'booked',
                  'patient_name_masked', name_masked}
  for name, value in pairs(booking.fields) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('HSET', booking.key, unpack(fields))
  redis.call('ZADD', booking.patient_appointments, booking.booked_at, booking.serial)
  redis.call('ZADD', booking.slot_appointments, queue_no, booking.serial)
  redis.call('SADD', booking.date_appointments, booking.serial)
  redis.call('ZADD', booking.all_appointments, booking.visit_start, booking.serial)
  redis.call('ZADD', booking.no_show_due, booking.no_show_at, booking.serial)
  redis.call('INCR', booking.version)
  return queue_no, name_masked
end

-- book.lua's keys and arguments, found at an offset in a script that books with them (KEYS after its own
-- `own_keys`, ARGV after its own `own_args`): what write_appointment needs but the serial, key and fields.
local function book_call(own_keys, own_args)
  local K, A = own_keys, own_args
  return {
    slot = KEYS[K + 1], version = KEYS[K + 2], patient_appointments = KEYS[K + 3], slot_appointments = KEYS[K + 4],
    date_appointments = KEYS[K + 5], all_appointments = KEYS[K + 6], no_show_due = KEYS[K + 7], audit = KEYS[K + 8],
    patient = KEYS[K + 9], first_key = K + 10,
    expected_version = ARGV[A + 1], booked_at = ARGV[A + 2], visit_start = ARGV[A + 3], no_show_at = ARGV[A + 4],
    actor = ARGV[A + 5], audited_at = ARGV[A + 6], fields_json = ARGV[A + 7], first_arg = A + 8,
  }
end

-- Pick the first free of book.lua's serial candidates into call.serial and call.key; whether there was one.
local function pick_serial(call)
  call.serial, call.key = free_serial(call.first_key, call.first_arg, #ARGV - call.first_arg + 1)
  return call.serial ~= nil
end

-- book.lua's re-checks of what can change concurrently, its serial picked (pick_serial): nil when the booking can go
-- ahead, else the reply that refuses it: {'moved'} / {'no_slot'} / {'closed'} / {'full'} / {'serial_clash'}.
local function refusal(call)
  if not version_unchanged(call.version, call.expected_version) then
    return {'moved'}
  end
  local slot = slot_for_sale(call.slot)
  if slot ~= 'available' then
    return {slot}
  end
  if not pick_serial(call) then
    return {'serial_clash'}
  end
  return nil
end
