-- An entry of the audit trail (bot.audit), appended in the same step as the change it records: a prelude that
-- bot/storage/scripts.py puts before the scripts whose first line names it ('-- uses: audit').

local function audit(stream, at, actor, action, serial, pid, detail)
  redis.call('XADD', stream, '*', 'at', at, 'actor', actor, 'action', action, 'serial', serial, 'pid', pid,
             'detail', detail)
end
