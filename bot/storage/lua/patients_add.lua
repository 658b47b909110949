-- Add a patient to an account, atomically: create or reuse the patient (same ID number = same pid), check the
-- per-account limit (of this account and of the SMS account of the patient's phone), link the phone.
-- A patient hash (keys.patient) has short field names (bot.patients.Field): n, i, p (name, ID, phone encrypted),
-- ph (phone hash), nm, im, pm (masked), c (created, epoch seconds).
-- An account is one hash (keys.account): 'p:<pid>' = the order the patient was added in (the patients it
-- manages), 'a' = the order of the active one, 'f:<pid>' = 1 on the SMS account of a phone for each patient whose
-- verified phone it is, 'ch' (channel), 'c' (created, epoch seconds).
-- KEYS: 1 patient, 2 account, 3 sms account of the new phone, 4 sms account of the stored phone
-- ARGV: 1 pid, 2 stored phone hash expected ("" = no patient yet), 3 limit, 4 now (epoch seconds), 5 channel,
--       6 phone hash, 7 (unused), 8 name_enc, 9 id_enc, 10 phone_enc, 11 name_masked, 12 id_masked,
--       13 phone_masked
-- Returns {"ok", created "1"|"0"} | {"retry"} (the stored phone changed meanwhile) | {"full", "account"|"phone"}
local pid = ARGV[1]
local member = 'p:' .. pid
local limit = tonumber(ARGV[3])
local now = ARGV[4]

local stored = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
  stored = redis.call('HGET', KEYS[1], 'ph') or ''
  if stored == '' then stored = '-' end
end
if stored ~= ARGV[2] then
  return {'retry'}
end

-- the patients of an account: count, highest order, the order of the first one, whether `order` is one of theirs
local function managed(account, order)
  local fields = redis.call('HGETALL', account)
  local count, last, lowest, found = 0, 0, nil, false
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'p:' then
      local n = tonumber(fields[i + 1])
      count = count + 1
      if n > last then last = n end
      if not lowest or n < lowest then lowest = n end
      if fields[i + 1] == order then found = true end
    end
  end
  return count, last, lowest, found
end

local function full(account)
  return redis.call('HEXISTS', account, member) == 0 and managed(account) >= limit
end
if full(KEYS[2]) then return {'full', 'account'} end
if KEYS[3] ~= KEYS[2] and full(KEYS[3]) then return {'full', 'phone'} end

local function add_to(account, channel)
  if redis.call('HEXISTS', account, member) == 0 then
    local _, last = managed(account)
    redis.call('HSET', account, member, last + 1)
  end
  redis.call('HSETNX', account, 'ch', channel)
  redis.call('HSETNX', account, 'c', now)
  local active = redis.call('HGET', account, 'a')
  local _, _, _, found = managed(account, active)
  if not found then
    redis.call('HSET', account, 'a', redis.call('HGET', account, member))
  end
end

local function remove_from(account)
  local order = redis.call('HGET', account, member)
  redis.call('HDEL', account, member)
  if order and redis.call('HGET', account, 'a') == order then
    local _, _, lowest = managed(account)
    if lowest then
      redis.call('HSET', account, 'a', lowest)
    else
      redis.call('HDEL', account, 'a')
    end
  end
end

local created = '0'
if stored == '' then
  created = '1'
  redis.call('HSET', KEYS[1], 'n', ARGV[8], 'i', ARGV[9], 'p', ARGV[10], 'ph', ARGV[6], 'nm', ARGV[11],
    'im', ARGV[12], 'pm', ARGV[13], 'c', now)
elseif stored ~= ARGV[6] then
  -- the phone was just proven for this patient: it replaces the old one, which stops acting for the patient
  redis.call('HSET', KEYS[1], 'p', ARGV[10], 'ph', ARGV[6], 'pm', ARGV[13])
  if stored ~= '-' then
    redis.call('HDEL', KEYS[4], 'f:' .. pid)
    if KEYS[4] ~= KEYS[2] and KEYS[4] ~= KEYS[3] then
      remove_from(KEYS[4])
    end
  end
end

add_to(KEYS[2], ARGV[5])
if KEYS[3] ~= KEYS[2] then
  add_to(KEYS[3], 'sms')
end
redis.call('HSET', KEYS[3], 'f:' .. pid, 1)
return {'ok', created}
