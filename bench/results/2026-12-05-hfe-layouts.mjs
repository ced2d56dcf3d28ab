// Issue 22, item 4: Redis bytes per session of the store's layout against layouts using per-field hash expiry
// (HFE: HPEXPIREAT, Redis >= 7.4, Valkey >= 9.0). Memory only, no HTTP and no load generator: one redis-server
// of the engine REDIS_ENGINE names (harness/engines.ts), filled layout by layout, `used_memory` delta / sessions.
//   npm run build && REDIS_ENGINE=redis-8.0 node bench/results/2026-12-05-hfe-layouts.mjs   (N=10000 S=1 by default)
// N sessions, S per user (N/S users), login fields as POST /login writes them (user, via). A kept scratch tool, not
// part of the benchmark: the write-up is 2026-12-05-hfe-layouts.md.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { RedisServer } from '../../dist/harness/redis-server.js'
import { RedisSessionStore } from '../../dist/services/session-store/store.js'

const N = Number(process.env.N ?? 10_000)
const S = Number(process.env.S ?? 1)
const IDLE = 1_800_000
const MAX = 43_200_000
const BUCKET = 100
const engine = process.env.REDIS_ENGINE || 'host'
const server = await RedisServer.start({ name: `mem-${engine}`, dir: `.run/hfe-layouts-${engine}-${process.pid}`, persistence: false })
const redis = new Redis(server.url)
const info = await redis.info('server')
const version = (/valkey_version:(\S+)/.exec(info) ?? /redis_version:(\S+)/.exec(info))[1]
const hfe = (await redis.call('COMMAND', 'INFO', 'HPEXPIRE'))[0] != null
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1])
const newId = () => randomBytes(24).toString('base64url') // as fastify-adapter.ts' randomSessionId
const now = Date.now()
const out = {}

async function measure (name, fill, then = {}) {
  await redis.flushall('SYNC') // SYNC: Valkey frees asynchronously by default, which skews the next "before"
  const before = await usedMemory()
  await fill()
  out[name] = Math.round((await usedMemory() - before) / N)
  for (const [step, run] of Object.entries(then)) {
    await run()
    out[`${name}, ${step}`] = Math.round((await usedMemory() - before) / N)
  }
}

/** Pipelines `write(pipeline, sessionId, user, i)` for every session i. */
async function each (write) {
  for (let i = 0; i < N; i += 500) {
    const p = redis.pipeline()
    for (let j = i; j < Math.min(N, i + 500); j++) write(p, newId(), `user-${Math.floor(j / S)}`, j)
    await p.exec()
  }
}

async function deleteMatching (pattern) {
  const keys = await redis.keys(pattern)
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000))
}

const session = (p, sid, user) => {
  p.hset(`sess:{${sid}}`, '@c', now, '@x', now + MAX, 'user', JSON.stringify(user), 'via', '"app-1"')
  p.pexpireat(`sess:{${sid}}`, now + IDLE)
}
const bucketOf = j => `sess:u:{b${Math.floor(j / BUCKET)}}`

// The store itself, its scripts as a login runs them: request-id record, index entry, session.
const store = new RedisSessionStore(redis, { prefix: 'sess:', idleTtlMs: IDLE, maxAgeMs: MAX, loginRetries: true })
await measure('store (scripts), all-in', async () => {
  for (let i = 0; i < N; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, N - i) }, async (_, k) => {
      const user = `user-${Math.floor((i + k) / S)}`
      const sid = await store.loginSessionId(randomBytes(16).toString('hex'), newId(), user)
      await store.create(sid, { user, via: 'app-1' })
    }))
  }
}, { 'request-id records deleted': () => deleteMatching('sess:r:*'), 'indexes deleted too': () => deleteMatching('sess:u:*') })

await measure('whole-JSON (connect-redis) string', () => each((p, sid, user) => p.set(`blob:${sid}`, JSON.stringify({
  cookie: { originalMaxAge: IDLE, expires: new Date(now + IDLE).toISOString(), secure: false, httpOnly: true, path: '/blob', sameSite: 'lax' }, user
}), 'PX', IDLE)))
await measure('A today: session hash + zset index per user', () => each((p, sid, user) => {
  p.zadd(`sess:u:{${user}}`, now + MAX + 1000, sid)
  p.pexpireat(`sess:u:{${user}}`, now + MAX + 1000)
  session(p, sid, user)
}))
await measure('session hash alone', () => each(session))
await measure(`B5 session hash + zset index shared by ${BUCKET} sessions' users (no HFE)`, () => each((p, sid, user, j) => {
  p.zadd(bucketOf(j), now + MAX + 1000, `${user} ${sid}`)
  p.pexpireat(bucketOf(j), now + MAX + 1000)
  session(p, sid, user)
}))
if (hfe) {
  await measure('B1 session hash + HFE hash index per user', () => each((p, sid, user) => {
    p.hset(`sess:u:{${user}}`, sid, now + MAX + 1000)
    p.call('HPEXPIREAT', `sess:u:{${user}}`, now + MAX + 1000, 'FIELDS', 1, sid)
    session(p, sid, user)
  }))
  await measure('B2 no session key: session fields as <id>.<name> fields of the user hash, HFE each', () => each((p, sid, user) => {
    const fields = [sid, `${sid}.@c`, `${sid}.user`, `${sid}.via`]
    p.hset(`sess:u:{${user}}`, sid, now + MAX, `${sid}.@c`, now, `${sid}.user`, JSON.stringify(user), `${sid}.via`, '"app-1"')
    p.call('HPEXPIREAT', `sess:u:{${user}}`, now + IDLE, 'FIELDS', fields.length, ...fields)
  }))
  await measure('B3 no session key: session as one encoded field of the user hash, HFE', () => each((p, sid, user) => {
    p.hset(`sess:u:{${user}}`, sid, JSON.stringify({ '@c': now, '@x': now + MAX, user: JSON.stringify(user), via: '"app-1"' }))
    p.call('HPEXPIREAT', `sess:u:{${user}}`, now + IDLE, 'FIELDS', 1, sid)
  }))
  await measure(`B4 session hash + HFE hash index shared by ${BUCKET} sessions' users`, () => each((p, sid, user, j) => {
    p.hset(bucketOf(j), `${user} ${sid}`, now + MAX + 1000)
    p.call('HPEXPIREAT', bucketOf(j), now + MAX + 1000, 'FIELDS', 1, `${user} ${sid}`)
    session(p, sid, user)
  }))
  await measure('B6 as B1, the request-id record a 15 s field of the user hash', () => each((p, sid, user) => {
    const record = `r:${randomBytes(16).toString('hex')}`
    p.hset(`sess:u:{${user}}`, sid, now + MAX + 1000, record, `${sid} ${user}`)
    p.call('HPEXPIREAT', `sess:u:{${user}}`, now + MAX + 1000, 'FIELDS', 1, sid)
    p.call('HPEXPIREAT', `sess:u:{${user}}`, now + 15_000, 'FIELDS', 1, record)
    session(p, sid, user)
  }))
  await measure('A + request-id record key (today, straight after login)', () => each((p, sid, user) => {
    p.set(`sess:r:{${randomBytes(16).toString('hex')}}`, `${sid} ${user}`, 'PX', 15_000)
    p.zadd(`sess:u:{${user}}`, now + MAX + 1000, sid)
    p.pexpireat(`sess:u:{${user}}`, now + MAX + 1000)
    session(p, sid, user)
  }))
  // One user's index of one entry: encoding and MEMORY USAGE, with and without a field expiry.
  await redis.flushall('SYNC')
  await redis.zadd('zset', now + MAX, newId())
  await redis.pexpireat('zset', now + MAX)
  await redis.hset('hash', newId(), now + MAX)
  await redis.hset('hash-hfe', newId(), now + MAX)
  await redis.call('HPEXPIREAT', 'hash-hfe', now + MAX, 'FIELDS', 1, (await redis.hkeys('hash-hfe'))[0])
  for (const key of ['zset', 'hash', 'hash-hfe']) out[`one-entry index ${key}: ${await redis.object('ENCODING', key)}, MEMORY USAGE`] = Number(await redis.memory('USAGE', key))
}
console.log(JSON.stringify({ engine, version, hfe, sessions: N, perUser: S, bytesPerSession: out }, null, 1))
await redis.quit()
await server.stop()
