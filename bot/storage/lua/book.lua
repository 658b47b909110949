-- uses: audit, booking
-- Commit one booking atomically: re-check what can change concurrently, take a place, write and index.
-- KEYS: 1 slot, 2 patient version, 3 patient appointments, 4 slot appointments, 5 date appointments,
--       6 all appointments, 7 no-show due, 8 audit stream, 9 patient hash, 10.. appointment key candidates
-- ARGV: 1 expected patient version, 2 booked_at epoch, 3 visit start epoch, 4 no-show due epoch,
--       5 audit actor, 6 audit at (ISO), 7 the appointment's fields (a JSON object), 8.. serial candidates
-- Returns: {'ok', serial, queue_no, patient_name_masked} or {'moved'} / {'closed'} / {'full'} / {'serial_clash'} / {'no_slot'}
-- The request's id travels in the fields as '_request' (not stored on the appointment): the same request committed
-- again (a command retried after a failover lost its reply, a webhook retry of the same message) returns the booking
-- it made, writing only its marker ('lb' in the patient hash) again, so that a WAIT after it covers the booking too.
local call = book_call(0, 0)
call.fields = cjson.decode(call.fields_json)
local request = call.fields['_request'] or ''
call.fields['_request'] = nil
if request ~= '' then
  local last = redis.call('HGET', call.patient, 'lb')
  if last then
    local made, made_serial, made_queue = string.match(last, '^(%S+) (%S+) (%S+)$')
    if made == request then
      redis.call('HSET', call.patient, 'lb', last)
      return {'ok', made_serial, tonumber(made_queue), redis.call('HGET', call.patient, 'nm') or ''}
    end
  end
end
local refused = refusal(call)
if refused then
  return refused
end
local queue_no, name_masked = write_appointment(call)
if request ~= '' then
  redis.call('HSET', call.patient, 'lb', request .. ' ' .. call.serial .. ' ' .. queue_no)
end
audit(call.audit, call.audited_at, call.actor, 'booked', call.serial, redis.call('HGET', call.key, 'pid'),
      'queue_no=' .. queue_no)
return {'ok', call.serial, queue_no, name_masked}
