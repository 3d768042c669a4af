"""The Lua scripts of the Redis account store; each mutation is one of them, run atomically.

Keys (``name`` is an account, ``c`` a container; neither may hold ``/``):

* ``accounts:``: hash ``name -> 1`` of every live account;
* ``account:<name>``: hash ``id``, ``bytes``, ``objects``, ``damaged_objects``,
  ``missing_chunks``, ``ctime``, ``put_timestamp``, ``delete_timestamp``, ``status``
  (``''`` or ``DELETED``), ``status_changed_at`` and, per storage policy ``p``,
  ``policy:<p>:containers|objects|bytes``;
* ``containers:<name>``: sorted set (all scores 0, so ordered by name) of the live
  containers;
* ``container:<name>/<c>``: hash ``name``, ``mtime``, ``dtime``, ``objects``, ``bytes``,
  ``damaged_objects``, ``missing_chunks``, ``policy``;
* ``metadata:<name>`` and ``metadata-ts:<name>``: the account's metadata values and the
  timestamp each was set at;
* ``deleted-accounts:``: hash ``name -> delete timestamp`` of the accounts deleted through
  the Swift protocol while they still listed containers: the account reaper's queue. Such
  an account expires only once the reaper has emptied it (``FINISH_REAPING``); one that
  listed nothing expires at once.

Timestamps travel as decimal strings (``Timestamp.internal``) and are compared as strings
by ``ts_cmp``, never converted to Lua numbers (doubles lose the low digits). Counters go
through ``HINCRBY`` with the decimal strings received or stored, for the same reason.
"""

TS_CMP = """
-- -1, 0 or 1 as the decimal string a is older, the same as or newer than b
local function ts_split(ts)
  return string.match(ts, '^0*(%d*)(.*)$')
end
local function ts_cmp(a, b)
  local ia, fa = ts_split(a)
  local ib, fb = ts_split(b)
  if #ia ~= #ib then return (#ia < #ib) and -1 or 1 end
  if ia ~= ib then return (ia < ib) and -1 or 1 end
  if fa == fb then return 0 end
  return (fa < fb) and -1 or 1
end
local function incr(key, field, value)
  if value ~= '0' and value ~= '-0' then redis.call('HINCRBY', key, field, value) end
end
local function decr(key, field, value)
  if value ~= '0' then redis.call('HINCRBY', key, field, '-' .. value) end
end
local function new_account(key, name, now, put_ts)
  redis.call('HSET', key, 'id', name, 'bytes', 0, 'objects', 0, 'damaged_objects', 0,
             'missing_chunks', 0, 'ctime', now, 'put_timestamp', put_ts,
             'delete_timestamp', '0', 'status', '', 'status_changed_at', put_ts)
end
"""

#: KEYS: account, accounts:  ARGV: name, now, put_timestamp.
#: Returns the name if created, nil if the account already exists.
ZERO_COUNTERS = """
-- set the account's counters, and each per-policy one, to 0
local function zero_counters(account)
  local fields = {'objects', 0, 'bytes', 0, 'damaged_objects', 0, 'missing_chunks', 0}
  for _, field in ipairs(redis.call('HKEYS', account)) do
    if string.sub(field, 1, 7) == 'policy:' then
      table.insert(fields, field)
      table.insert(fields, 0)
    end
  end
  redis.call('HSET', account, unpack(fields))
end
"""

CREATE_ACCOUNT = TS_CMP + """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
new_account(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], 1)
return ARGV[1]
"""

#: Swift's account PUT. KEYS: account, accounts:  ARGV: name, put_timestamp, now.
#: Returns ``created``, ``accepted`` or ``deleted`` (the account is marked deleted).
PUT_ACCOUNT = TS_CMP + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  new_account(KEYS[1], ARGV[1], ARGV[3], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], 1)
  return 'created'
end
if redis.call('HGET', KEYS[1], 'status') == 'DELETED' then return 'deleted' end
local current = redis.call('HGET', KEYS[1], 'put_timestamp') or '0'
if ts_cmp(ARGV[2], current) > 0 then
  redis.call('HSET', KEYS[1], 'put_timestamp', ARGV[2])
end
return 'accepted'
"""

#: KEYS: account, containers, accounts:, metadata, metadata-ts  ARGV: name.
#: Errors ``no_account``, ``not_empty``.
DELETE_ACCOUNT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_account') end
if redis.call('ZCARD', KEYS[2]) > 0 then return redis.error_reply('not_empty') end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

EXPIRE_ACCOUNT = """
-- let the account's hash, container listing and metadata expire after delay seconds
local function expire_account(delay)
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], delay) end
end
"""

#: Swift's account DELETE: mark it deleted and clear its metadata; let it all expire if it
#: lists no container, else queue it for the account reaper in ``deleted-accounts:``.
#: KEYS: account, containers, metadata, metadata-ts, accounts:, deleted-accounts:
#: ARGV: name, timestamp, expiry delay (s).
#: Returns ``deleted``, ``no_account`` or ``already_deleted``.
MARK_ACCOUNT_DELETED = TS_CMP + EXPIRE_ACCOUNT + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_account' end
if redis.call('HGET', KEYS[1], 'status') == 'DELETED' then return 'already_deleted' end
local current = redis.call('HGET', KEYS[1], 'delete_timestamp') or '0'
if ts_cmp(ARGV[2], current) > 0 then
  redis.call('HSET', KEYS[1], 'delete_timestamp', ARGV[2])
end
redis.call('HSET', KEYS[1], 'status', 'DELETED', 'status_changed_at', ARGV[2])
for _, key in ipairs(redis.call('HKEYS', KEYS[3])) do
  local stamp = redis.call('HGET', KEYS[4], key) or '0'
  if ts_cmp(ARGV[2], stamp) > 0 then
    redis.call('HSET', KEYS[3], key, '')
    redis.call('HSET', KEYS[4], key, ARGV[2])
  end
end
redis.call('HDEL', KEYS[5], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  expire_account(ARGV[3])
else
  redis.call('HSET', KEYS[6], ARGV[1], ARGV[2])
end
return 'deleted'
"""

#: The reaper is done with a deleted account: once it lists no container, take it off
#: ``deleted-accounts:`` and let it expire.  KEYS: account, containers, metadata,
#: metadata-ts, deleted-accounts:  ARGV: name, delay.  Returns ``done`` or ``not_empty``.
FINISH_REAPING = EXPIRE_ACCOUNT + """
if redis.call('ZCARD', KEYS[2]) > 0 then return 'not_empty' end
if redis.call('HGET', KEYS[1], 'status') == 'DELETED' then expire_account(ARGV[2]) end
redis.call('HDEL', KEYS[5], ARGV[1])
return 'done'
"""

#: Forget every container of the account and zero its counters.
#: KEYS: account, containers  ARGV: container key prefix.  Error ``no_account``.
FLUSH_ACCOUNT = ZERO_COUNTERS + """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_account') end
zero_counters(KEYS[1])
for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', ARGV[1] .. name)
end
redis.call('DEL', KEYS[2])
return 1
"""

#: Recompute the account's counters (and per-policy ones) from its live containers.
#: KEYS: account, containers  ARGV: container key prefix.  Error ``no_account``.
REFRESH_ACCOUNT = TS_CMP + ZERO_COUNTERS + """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_account') end
local counters = {'objects', 'bytes', 'damaged_objects', 'missing_chunks'}
zero_counters(KEYS[1])
for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local c = redis.call('HMGET', ARGV[1] .. name, 'objects', 'bytes', 'damaged_objects',
                       'missing_chunks', 'policy')
  for i, field in ipairs(counters) do incr(KEYS[1], field, c[i] or '0') end
  local policy = c[5] or ''
  if policy ~= '' then
    redis.call('HINCRBY', KEYS[1], 'policy:' .. policy .. ':containers', 1)
    incr(KEYS[1], 'policy:' .. policy .. ':objects', c[1] or '0')
    incr(KEYS[1], 'policy:' .. policy .. ':bytes', c[2] or '0')
  end
end
return 1
"""

#: One container's new statistics. KEYS: account, container, containers, accounts:
#: ARGV: 1 account name, 2 container name, 3 mtime, 4 dtime, 5 objects, 6 bytes,
#: 7 damaged_objects, 8 missing_chunks, 9 autocreate ('1'), 10 now, 11 expiry delay of a
#: deleted container (s), 12 storage policy ('' for none), 13 equal_wins ('1': a report
#: with the stored mtime and dtime replaces the counters), 14 override_deleted ('1': report
#: even to an account marked deleted), 15 must_exist ('1': the container must be live).
#: Returns ``updated``, ``deleted``; errors ``no_account``, ``no_container``,
#: ``no_update_needed``.
UPDATE_CONTAINER = TS_CMP + """
local acct = KEYS[1]
if redis.call('EXISTS', acct) == 0 then
  if ARGV[9] ~= '1' then return redis.error_reply('no_account') end
  new_account(acct, ARGV[1], ARGV[10], ARGV[10])
  redis.call('HSET', KEYS[4], ARGV[1], 1)
elseif ARGV[14] ~= '1' and redis.call('HGET', acct, 'status') == 'DELETED' then
  return redis.error_reply('no_account')
end
local c = redis.call('HMGET', KEYS[2], 'mtime', 'dtime', 'objects', 'bytes',
                     'damaged_objects', 'missing_chunks', 'policy')
local mtime, dtime = c[1] or '0', c[2] or '0'
local old = {c[3] or '0', c[4] or '0', c[5] or '0', c[6] or '0'}
local old_policy = c[7] or ''
local live_before = redis.call('ZSCORE', KEYS[3], ARGV[2]) ~= false
if ARGV[15] == '1' and not live_before then return redis.error_reply('no_container') end

local m_newer = ts_cmp(ARGV[3], mtime) > 0
local d_newer = ts_cmp(ARGV[4], dtime) > 0
local new_mtime = m_newer and ARGV[3] or mtime
local new_dtime = d_newer and ARGV[4] or dtime
local deleted = ts_cmp(new_dtime, new_mtime) > 0
local new, new_policy
if deleted then
  if not (m_newer or d_newer) then return redis.error_reply('no_update_needed') end
  new = {'0', '0', '0', '0'}
  new_policy = old_policy
elseif m_newer or (ARGV[13] == '1' and ts_cmp(ARGV[3], mtime) == 0
                   and ts_cmp(ARGV[4], dtime) == 0) then
  new = {ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
  new_policy = ARGV[12]
  if not m_newer and live_before and new_policy == old_policy and new[1] == old[1]
      and new[2] == old[2] and new[3] == old[3] and new[4] == old[4] then
    return redis.error_reply('no_update_needed')
  end
else
  return redis.error_reply('no_update_needed')
end

redis.call('HSET', KEYS[2], 'name', ARGV[2], 'mtime', new_mtime, 'dtime', new_dtime,
           'objects', new[1], 'bytes', new[2], 'damaged_objects', new[3],
           'missing_chunks', new[4], 'policy', new_policy)
if deleted then
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[11]))
else
  redis.call('PERSIST', KEYS[2])
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
end
local counters = {'objects', 'bytes', 'damaged_objects', 'missing_chunks'}
for i, field in ipairs(counters) do
  if old[i] ~= new[i] then
    decr(acct, field, old[i])
    incr(acct, field, new[i])
  end
end
if live_before and old_policy ~= '' then
  local p = 'policy:' .. old_policy .. ':'
  redis.call('HINCRBY', acct, p .. 'containers', -1)
  decr(acct, p .. 'objects', old[1])
  decr(acct, p .. 'bytes', old[2])
end
if not deleted and new_policy ~= '' then
  local p = 'policy:' .. new_policy .. ':'
  redis.call('HINCRBY', acct, p .. 'containers', 1)
  incr(acct, p .. 'objects', new[1])
  incr(acct, p .. 'bytes', new[2])
end
if deleted then return 'deleted' end
return 'updated'
"""

#: Swift's metadata merge, newest timestamp winning, refused past the limits.
#: KEYS: metadata, metadata-ts, account
#: ARGV: user-metadata prefix (lower case), max count, max overall size, then
#: ``key, value, timestamp`` triplets.  Returns how many keys changed; errors
#: ``no_account``, ``too_many_metadata``, ``metadata_too_large``.
MERGE_METADATA = TS_CMP + """
if redis.call('EXISTS', KEYS[3]) == 0
    or redis.call('HGET', KEYS[3], 'status') == 'DELETED' then
  return redis.error_reply('no_account')
end
local changed = {}
for i = 4, #ARGV, 3 do
  local stamp = redis.call('HGET', KEYS[2], ARGV[i])
  if not stamp or ts_cmp(ARGV[i + 2], stamp) > 0 then
    changed[ARGV[i]] = {ARGV[i + 1], ARGV[i + 2]}
  end
end
if next(changed) == nil then return 0 end
local merged = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do merged[all[i]] = all[i + 1] end
for key, pair in pairs(changed) do merged[key] = pair[1] end
local prefix = ARGV[1]
local count, size = 0, 0
local function chars(s)
  return select(2, string.gsub(s, '[^\\128-\\191]', ''))
end
for key, value in pairs(merged) do
  if value ~= '' and string.sub(string.lower(key), 1, #prefix) == prefix then
    count = count + 1
    size = size + chars(key) - chars(prefix) + chars(value)
  end
end
if count > tonumber(ARGV[2]) then return redis.error_reply('too_many_metadata') end
if size > tonumber(ARGV[3]) then return redis.error_reply('metadata_too_large') end
local n = 0
for key, pair in pairs(changed) do
  redis.call('HSET', KEYS[1], key, pair[1])
  redis.call('HSET', KEYS[2], key, pair[2])
  n = n + 1
end
return n
"""

#: The seed's metadata update: set some keys, delete others.
#: KEYS: metadata, metadata-ts, account  ARGV: now, number of pairs, pairs, keys to delete.
#: Error ``no_account``.
SET_METADATA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('no_account') end
local pairs_end = 2 + 2 * tonumber(ARGV[2])
for i = 3, pairs_end, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
end
for i = pairs_end + 1, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return 1
"""

#: One page of a listing with each container's counters, in one round trip (read-only).
#: KEYS: containers  ARGV: min, max (ZRANGEBYLEX bounds), count, reverse ('1'), container
#: key prefix.  Returns one JSON text: ``[[name, objects, bytes, mtime, policy], ...]``
#: (one string to parse instead of five replies per container).
LIST_CONTAINERS = """
local names
if ARGV[4] == '1' then
  names = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[3])
else
  names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
end
if #names == 0 then return '[]' end
local rows = {}
for i, name in ipairs(names) do
  local c = redis.call('HMGET', ARGV[5] .. name, 'objects', 'bytes', 'mtime', 'policy')
  rows[i] = {name, c[1] or '0', c[2] or '0', c[3] or '0', c[4] or ''}
end
return cjson.encode(rows)
"""
