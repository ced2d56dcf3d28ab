// The session store's Lua scripts. Each runs atomically inside Redis, so a session is never seen
// half-written, and each touches keys of one hash slot only (Redis Cluster). ioredis sends them by SHA and
// re-sends the source when Redis answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH).
//
// Time comes from Redis (TIME), never from a replica's clock: every replica agrees on expiry to the millisecond.
// Reserved hash fields: @c created, @x absolute deadline, @s last seen (epoch ms). Last seen is the key's expiry
// (PEXPIRETIME) minus the idle time, written nowhere, until the expiry is capped by the deadline: in that final
// idle window the expiry stops moving, so a read writes @s instead (in the same script: still one round trip).
//
// Every script starts with a Redis 7 shebang, which makes Redis check its flags before running it:
//  - `#!lua` (may write): refused whole, before running, while Redis is over maxmemory (a full Redis leaves
//    nothing half-written, and no key from a login it refused);
//  - `flags=allow-oom`: scripts that only change keys in place or delete (read and slide, list, end a
//    session) keep working while Redis is full, so logged-in users keep being served.
// And every script's first argument is its window in Redis' clock, "<not before>:<deadline>" (epoch ms): past
// the deadline, the request that sent the script has given up (its answer was a 503, or the balancer's 504), so
// the script refuses to write. Before the window, the replica's idea of Redis' time is ahead of Redis' (Redis'
// clock stepped back): the script refuses too, the replica learns the offset again and may send it once more.

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local from, to = string.match(ARGV[1], '^(%d+):(%d+)$')
if now > tonumber(to) then return redis.error_reply('DEADLINE passed: the request gave up before this write ran') end
if now < tonumber(from) then return redis.error_reply('DEADLINE not yet: Redis time is behind what the replica expected') end
`

const MAY_GROW = `#!lua${PRELUDE}`
const IN_PLACE = `#!lua flags=allow-oom${PRELUDE}`

/**
 * KEYS: session. ARGV: window, idle ms, and optionally a counter field to increment in the same round trip.
 * Returns the fields (flat, the counter's new value last) after sliding the expiry, or nil when gone.
 */
export const LOAD = `${IN_PLACE}
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local deadline
for i = 1, #fields, 2 do
  if fields[i] == '@x' then deadline = tonumber(fields[i + 1]) break end
end
if deadline == nil or deadline <= now then
  redis.call('DEL', KEYS[1])
  return false
end
local expires = math.min(now + tonumber(ARGV[2]), deadline)
redis.call('PEXPIREAT', KEYS[1], expires)
if expires == deadline then redis.call('HSET', KEYS[1], '@s', now) end
if ARGV[3] then
  fields[#fields + 1] = ARGV[3]
  fields[#fields + 1] = tostring(redis.call('HINCRBY', KEYS[1], ARGV[3], 1))
end
return fields
`

/**
 * KEYS: a login's request-id record. ARGV: window, a fresh session id, how long to remember it (ms), the user.
 * Returns the id recorded by an earlier attempt of the same request for the same user, or records and returns the
 * fresh one; CONFLICT when that request id logged in another user (a replay, never a retry).
 */
export const LOGIN_ID = `${MAY_GROW}
local earlier = redis.call('GET', KEYS[1])
if earlier then
  local space = string.find(earlier, ' ', 1, true)
  if string.sub(earlier, space + 1) ~= ARGV[4] then return redis.error_reply('CONFLICT this request id logged in another user') end
  return string.sub(earlier, 1, space - 1)
end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[4], 'PX', ARGV[3])
return ARGV[2]
`

/**
 * KEYS: a login's request-id record. ARGV: window, the session id it must still name. Forgets the record of a
 * refused login (1 when it did). A script for its window: it never runs after nginx could have re-sent the login.
 */
export const LOGIN_ID_FORGET = `${IN_PLACE}
local record = redis.call('GET', KEYS[1])
if not record or string.sub(record, 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
return redis.call('DEL', KEYS[1])
`

/**
 * KEYS: session, its ended marker. ARGV: window, idle ms, max age ms, field, value, ... Returns the absolute
 * deadline. ENDED when the session was ended meanwhile (a login re-sent after its session was logged out).
 */
export const CREATE = `${MAY_GROW}
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('ENDED this session was ended') end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR session id already in use') end
local deadline = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], '@c', now, '@x', deadline, unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], math.min(now + tonumber(ARGV[2]), deadline))
return deadline
`

/** KEYS: session. ARGV: window, n, n field/value pairs to set, then fields to delete. 0 when the session is gone. */
export const PATCH = `${MAY_GROW}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
if #ARGV > 2 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * n)) end
return 1
`

/** KEYS: session. ARGV: window, field, by. The new value, or nil when the session is gone (never resurrects it). */
export const INCREMENT = `${MAY_GROW}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])
`

/**
 * KEYS: session, its ended marker. ARGV: window, user field, login retry window ms. Deletes the session and
 * returns its user (for the index), if any. A session younger than the window leaves a marker until the window
 * ends, so that a re-sent login cannot recreate it (CREATE).
 */
export const DESTROY = `${IN_PLACE}
local fields = redis.call('HMGET', KEYS[1], ARGV[2], '@c')
redis.call('DEL', KEYS[1])
local until_ms = tonumber(fields[2] or 0) + tonumber(ARGV[3])
if fields[2] and until_ms > now then redis.call('SET', KEYS[2], '1', 'PXAT', until_ms) end
return fields[1]
`

/**
 * KEYS: user index (a sorted set: member session id, score its deadline). ARGV: window, session id, deadline
 * slack ms, max age ms, the most sessions a user may have, the most to evict at once. Prunes entries past their
 * deadline, adds this one, and keeps the index alive exactly as long as its longest-lived session, so it never
 * leaks. Beyond the cap, the oldest entries (lowest deadline: the earliest logins) leave the index: it returns
 * their ids, whose sessions the caller then deletes (they live in other hash slots). The eviction per call is
 * bounded too, so an index grown under an earlier, larger cap shrinks over a few logins, never in one long script.
 */
export const INDEX_ADD = `${MAY_GROW}
local id = ARGV[2]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]) + tonumber(ARGV[3]), id)
local evicted = {}
local over = math.min(redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5]), tonumber(ARGV[6]))
if over > 0 then
  -- One more than needed: a login in the same millisecond may rank before this one, which must stay.
  for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, over)) do
    if old ~= id and #evicted < over then evicted[#evicted + 1] = old end
  end
  redis.call('ZREM', KEYS[1], unpack(evicted))
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return evicted
`

/**
 * KEYS: user index. ARGV: window, session id. Takes back the entry of a login whose session was refused; a script
 * for its window, so it never runs after a repeat of that login has written the same entry again.
 */
export const INDEX_REMOVE = `${IN_PLACE}
return redis.call('ZREM', KEYS[1], ARGV[2])
`

/**
 * KEYS: user index. ARGV: window, how many. Prunes entries past their deadline, then lists the ids of the
 * newest sessions, at most that many, oldest first (bounded however large the index is).
 */
export const INDEX_LIST = `${IN_PLACE}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[2]), -1)
`
