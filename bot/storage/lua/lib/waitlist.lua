-- Where a place given back in a slot goes (bot.waitlist): to the slot's waiters (wl_free, offered to them in turn)
-- while waiting is open and more wait than places are already freed for them, else back to sale: a prelude that
-- bot/storage/scripts.py puts before the scripts whose first line names it ('-- uses: waitlist').

-- Route one place given back in the slot; whether it went to the waiters.
local function to_waiters(slot_key, queue_key, freed_slots, slot_id, waiting_open)
  local free = tonumber(redis.call('HGET', slot_key, 'wl_free') or '0')
  if waiting_open and redis.call('HGET', slot_key, 'status') == 'open' and redis.call('ZCARD', queue_key) > free then
    redis.call('HINCRBY', slot_key, 'wl_free', 1)
    redis.call('SADD', freed_slots, slot_id)
    return true
  end
  return false
end
