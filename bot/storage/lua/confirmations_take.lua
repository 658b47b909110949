-- The confirmations' batch job takes its next confirmations (bot.confirmations.ConfirmationJob): up to a count of the
-- claims waiting, oldest first; and while the job flag is still this job's, its lifetime is renewed (a job at work
-- keeps it; one that died leaves it to expire).
-- KEYS: 1 keys.CONFIRMATIONS_WAITING, 2 keys.CONFIRMATIONS_JOB
-- ARGV: 1 at most this many, 2 the job's id, 3 the flag's lifetime (s)
-- Returns the claims taken (none when the line is empty).
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return redis.call('LPOP', KEYS[1], ARGV[1]) or {}
