// The monotonic-clock deadlines (clock.ts, scripts.ts): every script carries "<not before>:<deadline>" in Redis'
// time and refuses to run outside it. A request that has given up (answered 503 for a slow Redis) never writes
// later; and a replica whose idea of Redis' time is off learns it again instead of writing at the wrong time.
import t from 'tap'
import { defineSessionCommands } from '../../services/session-store/commands.ts'
import { endedKey, loginRequestKey, sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { SessionStoreUnavailableError } from '../../services/errors.ts'
import { newId, PREFIX, redisNow, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('a write past its request\'s window is refused whole: nothing written, a clear 503', async t => {
  const seen: string[] = []
  const { store, redis } = await storeOn(t, server, { writeWindowMs: 2000, observe: (op, outcome) => seen.push(`${op} ${outcome}`) })
  await store.now() // the clock offset learnt
  const gaveUp = performance.now() - 2100 // a request that started 2.1 s ago: it has given up
  const err = await store.create(newId(), { user: 'ann' }, gaveUp).catch(e => e)
  t.ok(err instanceof SessionStoreUnavailableError, 'a SessionStoreUnavailableError')
  t.equal(err.statusCode, 503)
  t.match(err.cause?.message, /^DEADLINE passed/, 'because the request gave up')
  t.same(await redis.keys('*'), [], 'no session, no index entry')
  t.ok(seen.includes('create error'), 'observed as an error')
  await t.rejects(store.loginSessionId('r1', newId(), 'ann', gaveUp), /unavailable/, 'a login id is refused the same way')
  t.equal(await redis.exists(loginRequestKey(PREFIX, 'r1')), 0)

  const recent = performance.now() - 1000 // still inside its window
  const id = newId()
  await store.create(id, { user: 'ann' }, recent)
  t.equal(await redis.exists(sessionKey(PREFIX, id)), 1, 'a request still inside its window writes')
  t.equal(await redis.zscore(userIndexKey(PREFIX, 'ann'), id) !== null, true)
})

t.test('each script checks the window against Redis\' own TIME', async t => {
  const { redis } = await storeOn(t, server)
  // The store's scripts, sent straight from the test's connection with windows it chooses.
  defineSessionCommands(redis)
  const id = newId()
  const key = sessionKey(PREFIX, id)
  const now = await redisNow(redis)
  const past = `${now - 2000}:${now - 1000}`
  const future = `${now + 60_000}:${now + 61_000}`
  const open = `${now - 1000}:${now + 60_000}`
  await t.rejects(redis.sessionCreate(key, endedKey(PREFIX, id), past, 60_000, 120_000, 'user', '"x"'), /^DEADLINE passed/)
  await t.rejects(redis.sessionCreate(key, endedKey(PREFIX, id), future, 60_000, 120_000, 'user', '"x"'), /^DEADLINE not yet/,
    'Redis\' clock behind the replica\'s estimate (its clock stepped back): refused too')
  t.equal(await redis.exists(key), 0, 'neither wrote')
  t.equal(typeof await redis.sessionCreate(key, endedKey(PREFIX, id), open, 60_000, 120_000, 'user', '"x"'), 'number', 'inside the window: written')
  const written = await redis.hgetall(key)
  const scripts: Record<string, (window: string) => Promise<unknown>> = {
    load: async (w: string) => await redis.sessionLoad(key, w, 1000),
    patch: async (w: string) => await redis.sessionPatch(key, w, 1, 'theme', '"dark"'),
    increment: async (w: string) => await redis.sessionIncrement(key, w, 'visits', 1),
    destroy: async (w: string) => await redis.sessionDestroy(key, endedKey(PREFIX, id), w, 'user', 0),
    indexAdd: async (w: string) => await redis.sessionIndexAdd(userIndexKey(PREFIX, 'x'), w, id, 1000, 2000, 5, 5),
    indexList: async (w: string) => await redis.sessionIndexList(userIndexKey(PREFIX, 'x'), w, 5),
    indexRemove: async (w: string) => await redis.sessionIndexRemove(userIndexKey(PREFIX, 'x'), w, id),
    loginId: async (w: string) => await redis.sessionLoginId(loginRequestKey(PREFIX, 'r'), w, id, 1000, 'x'),
    loginIdForget: async (w: string) => await redis.sessionLoginIdForget(loginRequestKey(PREFIX, 'r'), w, id)
  }
  for (const [name, call] of Object.entries(scripts)) {
    await t.rejects(call(past), /^DEADLINE passed/, `${name}: refused past its deadline`)
    await t.rejects(call(future), /^DEADLINE not yet/, `${name}: refused before its window`)
  }
  t.same(await redis.hgetall(key), written, 'the session as written, untouched')
  t.same((await redis.keys('*')).sort(), [key], 'and nothing else written')
})
