// The session store's Lua scripts. Each runs atomically inside Redis, so a session is never seen
// half-written, and each touches keys of one hash slot only (Redis Cluster). ioredis sends them by SHA and
// re-sends the source when Redis answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH).
//
// Time comes from Redis (TIME), never from a replica's clock: every replica agrees on expiry to the millisecond.
// Reserved hash fields: @c created, @x absolute deadline (epoch ms). Last seen needs no field: the key's expiry
// (PEXPIRETIME) is always last seen + idle time, unless capped by the deadline.

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/**
 * KEYS: session. ARGV: idle ms, and optionally a counter field to increment in the same round trip.
 * Returns the fields (flat, the counter's new value last) after sliding the expiry, or nil when gone.
 */
export const LOAD = `${NOW}
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
redis.call('PEXPIREAT', KEYS[1], math.min(now + tonumber(ARGV[1]), deadline))
if ARGV[2] then
  fields[#fields + 1] = ARGV[2]
  fields[#fields + 1] = tostring(redis.call('HINCRBY', KEYS[1], ARGV[2], 1))
end
return fields
`

/** KEYS: session. ARGV: idle ms, max age ms, field, value, ... Returns the absolute deadline. */
export const CREATE = `${NOW}
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR session id already in use') end
local deadline = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], '@c', now, '@x', deadline, unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], math.min(now + tonumber(ARGV[1]), deadline))
return deadline
`

/** KEYS: session. ARGV: n, n field/value pairs to set, then fields to delete. 0 when the session is gone. */
export const PATCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[1])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n)) end
if #ARGV > 1 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return 1
`

/** KEYS: session. ARGV: field, by. The new value, or nil when the session is gone (never resurrects it). */
export const INCREMENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
`

/** KEYS: session. ARGV: user field. Deletes the session and returns its user (for the index), if any. */
export const DESTROY = `
local user = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1])
return user
`

/**
 * KEYS: user index (a sorted set: member session id, score its deadline). ARGV: session id, deadline slack ms,
 * max age ms. Prunes entries past their deadline and keeps the index alive exactly as long as its
 * longest-lived session, so it never leaks.
 */
export const INDEX_ADD = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
`

/** KEYS: user index. Prunes entries past their deadline, then lists the session ids. */
export const INDEX_LIST = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`
