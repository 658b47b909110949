-- Import a validated schedule, all or nothing (bot.schedule.Schedule.import_csv).
--
-- KEYS[1..n]   the slot hash of each row (keys.slot): row i -> KEYS[i]
-- KEYS[n+1..]  the index keys the rows point into (keys.slots_of_day, keys.slots_of_department_day,
--              keys.schedule_dates), each listed once
-- KEYS[#KEYS-1] the audit stream (keys.AUDIT): a successful import appends schedule_imported
-- KEYS[#KEYS]  the schedule's version (keys.SCHEDULE_VERSION): an import that changed anything sets it to ARGV[5]
--              (the same file again changes nothing: the caches of bot.schedule_cache stay valid)
-- ARGV[1]      JSON array of rows, one array of strings per row:
--              {day_idx, dept_day_idx, dates_idx, score, slot_id, <the values of FIELDS, in that order>}
--              (*_idx: indexes into KEYS; score: start in minutes after midnight)
--
-- ARGV[2]      the actor (staff:<token name>, staff:cli-<user>, system); ARGV[3] when; ARGV[4] the hospitals, comma-joined;
-- ARGV[5]      a new random version token (what processes cached of the schedule is read again: bot.schedule_cache)
--
-- Returns {0, i1, taken1, i2, taken2, ...}: rows (0-based) whose existing slot holds more bookings than the new
-- capacity, and nothing is written; else {1, created, updated}.
-- taken, next_queue and status belong to booking and staff: set only when a slot is new, never reset here.
-- Slots absent from the file are left alone.

local DAY, DEPT_DAY, DATES, SCORE, SLOT_ID = 1, 2, 3, 4, 5
-- the stored names of a scheduled slot: bot.records.SCHEDULED_FIELDS, in its order (tests/test_schedule.py checks)
local FIELDS = {'hospital', 'department', 'doctor', 'doctor_name', 'level', 'date', 'start', 'end', 'fee_cents',
    'capacity', 'doctor_name_en'}
local AT = {}
for i, name in ipairs(FIELDS) do
    AT[name] = SLOT_ID + i
end
local CAPACITY, DATE = AT['capacity'], AT['date']

local rows = cjson.decode(ARGV[1])

local refused = {0}
for i, row in ipairs(rows) do
    local taken = tonumber(redis.call('HGET', KEYS[i], 'taken') or '0') or 0
    if taken > tonumber(row[CAPACITY]) then
        refused[#refused + 1] = i - 1
        refused[#refused + 1] = taken
    end
end
if #refused > 1 then
    return refused
end

local created, updated, changed = 0, 0, 0
for i, row in ipairs(rows) do
    local key = KEYS[i]
    if redis.call('EXISTS', key) == 1 then
        updated = updated + 1
        local stored = redis.call('HMGET', key, unpack(FIELDS))
        for f = 1, #FIELDS do
            if stored[f] ~= row[SLOT_ID + f] then
                changed = changed + 1
                break
            end
        end
    else
        created = created + 1
        redis.call('HSET', key, 'taken', '0', 'next_queue', '0', 'status', 'open')
    end
    local values = {}
    for f, name in ipairs(FIELDS) do
        values[#values + 1] = name
        values[#values + 1] = row[SLOT_ID + f]
    end
    redis.call('HSET', key, unpack(values))
    changed = changed + redis.call('ZADD', KEYS[tonumber(row[DAY])], 'CH', row[SCORE], row[SLOT_ID])
    changed = changed + redis.call('ZADD', KEYS[tonumber(row[DEPT_DAY])], 'CH', row[SCORE], row[SLOT_ID])
    changed = changed + redis.call('SADD', KEYS[tonumber(row[DATES])], row[DATE])
end
if created + changed > 0 then
    redis.call('SET', KEYS[#KEYS], ARGV[5])
end
redis.call('XADD', KEYS[#KEYS - 1], '*', 'at', ARGV[3], 'actor', ARGV[2], 'action', 'schedule_imported', 'serial', '',
    'pid', '', 'detail', 'hospitals=' .. ARGV[4] .. ' rows=' .. #rows .. ' created=' .. created .. ' updated=' .. updated)
return {1, created, updated}
