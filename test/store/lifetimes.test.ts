// LOAD and CREATE: a session's idle and absolute lifetimes, on Redis' clock. The key expires idle-time after the
// last read, never after the absolute deadline; in the final idle window a read records when it was (@s).
import t from 'tap'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { sessionKey } from '../../services/session-store/keys.ts'
import { newId, PREFIX, redisNow, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('create: the idle expiry and the absolute deadline count from the same instant, on Redis\' clock', async t => {
  const { store, redis } = await storeOn(t, server, { idleTtlMs: 60_000, maxAgeMs: 3_600_000 })
  const id = newId()
  const before = await redisNow(redis)
  await store.create(id, { user: 'ann', cart: ['apple'] })
  const after = await redisNow(redis)
  const fields = await redis.hgetall(sessionKey(PREFIX, id))
  const created = Number(fields['@c'])
  t.ok(created >= before && created <= after, 'created at Redis\' time of the write')
  t.equal(Number(fields['@x']), created + 3_600_000, 'absolute deadline: created + max age')
  t.equal(await redis.pexpiretime(sessionKey(PREFIX, id)), created + 60_000, 'the key expires created + idle time')
  t.same(await store.load(id), { user: 'ann', cart: ['apple'] }, 'read back typed, without the store\'s own fields')
})

t.test('a read slides the idle expiry to read time + idle time', async t => {
  const { store, redis } = await storeOn(t, server, { idleTtlMs: 60_000, maxAgeMs: 3_600_000 })
  const id = newId()
  await store.create(id, { user: 'bob' })
  const key = sessionKey(PREFIX, id)
  const first = await redis.pexpiretime(key)
  await pollUntil('Redis\' clock to move on', async () => (await redisNow(redis) > first - 60_000 + 5 ? true : undefined))
  const before = await redisNow(redis)
  await store.load(id)
  const after = await redisNow(redis)
  const slid = await redis.pexpiretime(key)
  t.ok(slid > first, `the expiry moved on (${slid - first} ms)`)
  t.ok(slid >= before + 60_000 && slid <= after + 60_000, 'to the read\'s time + idle time')
  t.notOk(await redis.hexists(key, '@s'), 'far from the deadline, nothing is written: the expiry says when it was read')
})

t.test('the deadline caps the expiry; a read in the final idle window records its time; then the session ends', async t => {
  const { store, redis } = await storeOn(t, server, { idleTtlMs: 1000, maxAgeMs: 1500 })
  const id = newId()
  await store.create(id, { user: 'cy' })
  const key = sessionKey(PREFIX, id)
  const created = Number(await redis.hget(key, '@c'))
  const deadline = created + 1500
  t.equal(await redis.pexpiretime(key), created + 1000, 'first, idle time from creation')
  // Into the final idle window: now + idle time is past the deadline.
  await pollUntil('the final idle window', async () => (await redisNow(redis) >= created + 600 ? true : undefined), scaled(3000))
  const before = await redisNow(redis)
  t.match(await store.load(id), { user: 'cy' })
  const seen = Number(await redis.hget(key, '@s'))
  t.equal(await redis.pexpiretime(key), deadline, 'the expiry stops at the deadline')
  t.ok(seen >= before && seen <= await redisNow(redis), 'and the read wrote its time (@s)')
  const [listed] = await store.listForUser('cy')
  t.equal(listed?.lastSeenAt, seen, '/sessions shows that read as the last visit, not deadline - idle time')
  t.equal(listed?.expiresAt, deadline)

  const ended = await pollUntil('reads to stop finding the session', async () => (await store.load(id) === null ? await redisNow(redis) : undefined), scaled(4000), 100)
  t.ok(ended >= deadline, `not before its deadline (${ended - deadline} ms after it), however often it is read`)
  t.equal(await redis.exists(key), 0, 'and the key is gone')
})

t.test('an unread session expires once idle: Redis deletes it, not a read', async t => {
  const { store, redis } = await storeOn(t, server, { idleTtlMs: 300, maxAgeMs: 60_000 })
  const id = newId()
  await store.create(id, { user: 'dee' })
  const key = sessionKey(PREFIX, id)
  const expiry = await redis.pexpiretime(key)
  const gone = await pollUntil('Redis to expire the idle session', async () => (await redis.exists(key) === 0 ? await redisNow(redis) : undefined), scaled(3000), 20)
  t.ok(gone >= expiry, 'not before idle time')
  t.equal(await store.load(id), null, 'a read after that finds nothing')
})

t.test('a read past the deadline deletes a session whose key is still there', async t => {
  const { store, redis } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'eve' })
  const key = sessionKey(PREFIX, id)
  await redis.hset(key, '@x', await redisNow(redis) - 1) // as if its deadline had passed before Redis expired the key
  t.equal(await store.load(id), null, 'the read finds no session')
  t.equal(await redis.exists(key), 0, 'and deletes the key')
})
