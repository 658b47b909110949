-- The patients_add.lua of key layout 1 (guahao before issue 16), kept to write old data for tests/test_migrate.py.
-- Add a patient to an account, atomically: create or reuse the patient (same ID number = same pid), check the
-- per-account limit (of this account and of the SMS account of the patient's phone), link the phone.
-- KEYS: 1 patient, 2 account patients, 3 account order, 4 account,
--       5 phone patients (new phone), 6 sms account patients, 7 sms account order, 8 sms account,
--       9 phone patients (stored phone), 10 old sms account patients, 11 old sms account order, 12 old sms account
-- ARGV: 1 pid, 2 stored phone_hash expected ("" = no patient yet), 3 limit, 4 now (ISO), 5 channel,
--       6 phone_hash, 7 phone_acct, 8 name_enc, 9 id_enc, 10 phone_enc, 11 name_masked, 12 id_masked,
--       13 phone_masked
-- Returns {"ok", created "1"|"0"} | {"retry"} (the stored phone changed meanwhile) | {"full", "account"|"phone"}
local pid = ARGV[1]
local limit = tonumber(ARGV[3])
local now = ARGV[4]

local stored = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
  stored = redis.call('HGET', KEYS[1], 'phone_hash') or ''
  if stored == '' then stored = '-' end
end
if stored ~= ARGV[2] then
  return {'retry'}
end

local function full(set)
  return redis.call('SISMEMBER', set, pid) == 0 and redis.call('SCARD', set) >= limit
end
if full(KEYS[2]) then return {'full', 'account'} end
if KEYS[6] ~= KEYS[2] and full(KEYS[6]) then return {'full', 'phone'} end

local function add_to(set, order, account, channel)
  if redis.call('SADD', set, pid) == 1 or redis.call('ZSCORE', order, pid) == false then
    local last = redis.call('ZREVRANGE', order, 0, 0, 'WITHSCORES')
    local score = 1
    if last[2] then score = tonumber(last[2]) + 1 end
    redis.call('ZADD', order, 'NX', score, pid)
  end
  redis.call('HSETNX', account, 'channel', channel)
  redis.call('HSETNX', account, 'created_at', now)
  local active = redis.call('HGET', account, 'active')
  if not active or active == '' or redis.call('SISMEMBER', set, active) == 0 then
    redis.call('HSET', account, 'active', pid)
  end
end

local function remove_from(set, order, account)
  redis.call('SREM', set, pid)
  redis.call('ZREM', order, pid)
  if redis.call('HGET', account, 'active') == pid then
    local first = redis.call('ZRANGE', order, 0, 0)
    if first[1] then
      redis.call('HSET', account, 'active', first[1])
    else
      redis.call('HDEL', account, 'active')
    end
  end
end

local created = '0'
if stored == '' then
  created = '1'
  redis.call('HSET', KEYS[1], 'name_enc', ARGV[8], 'id_enc', ARGV[9], 'phone_enc', ARGV[10],
    'phone_hash', ARGV[6], 'phone_acct', ARGV[7], 'name_masked', ARGV[11], 'id_masked', ARGV[12],
    'phone_masked', ARGV[13], 'created_at', now, 'updated_at', now)
elseif stored ~= ARGV[6] then
  -- the phone was just proven for this patient: it replaces the old one, which stops acting for the patient
  redis.call('HSET', KEYS[1], 'phone_enc', ARGV[10], 'phone_hash', ARGV[6], 'phone_acct', ARGV[7],
    'phone_masked', ARGV[13], 'updated_at', now)
  if stored ~= '-' then
    redis.call('SREM', KEYS[9], pid)
    if KEYS[10] ~= KEYS[2] and KEYS[10] ~= KEYS[6] then
      remove_from(KEYS[10], KEYS[11], KEYS[12])
    end
  end
end

add_to(KEYS[2], KEYS[3], KEYS[4], ARGV[5])
redis.call('SADD', KEYS[5], pid)
if KEYS[6] ~= KEYS[2] then
  add_to(KEYS[6], KEYS[7], KEYS[8], 'sms')
end
return {'ok', created}
