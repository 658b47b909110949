-- The calendar token of an appointment, made once: a second caller (the SMS reply and the WeChat push of the same
-- booking, or two workers) gets the first token, never a second one.
-- KEYS[1] keys.calendar_link(serial)   KEYS[2] keys.calendar_token(hash of the new token)
-- ARGV[1] the new token, encrypted   ARGV[2] the serial   ARGV[3] when both expire (epoch seconds)
-- Returns the appointment's token (encrypted): the existing one, else the new one.
local existing = redis.call('GET', KEYS[1])
if existing then
  return existing
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('EXPIREAT', KEYS[2], ARGV[3])
return ARGV[1]
