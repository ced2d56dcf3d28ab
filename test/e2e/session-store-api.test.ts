// The store on its own (no Fastify): what it writes, what it refuses, and how the user index stays honest.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { exitWithChildrenOnSignals } from '../../harness/processes.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { FastifySessionAdapter } from '../../services/session-store/fastify-adapter.ts'
import { sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { RedisSessionStore } from '../../services/session-store/store.ts'
import { commentEngine } from '../helpers/engine.ts'

exitWithChildrenOnSignals()

const ID_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const ID_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'

commentEngine(t)

t.test('the store API against a real Redis', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'store-api-'))
  const server = await RedisServer.start({ dir, persistence: false })
  const redis = new Redis(server.url)
  t.teardown(async () => {
    await redis.quit()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const store = new RedisSessionStore(redis, { prefix: 'sess:', idleTtlMs: 60_000, maxAgeMs: 3_600_000 })
  const adapter = new FastifySessionAdapter(store, 3_600_000)
  const set = async (id: string, session: object) => await new Promise<void>((resolve, reject) =>
    adapter.set(id, session, err => (err ? reject(err) : resolve())))

  await store.create(ID_A, { user: 'erin', cart: ['apple'], visits: 0 })
  t.same(await store.load(ID_A), { user: 'erin', cart: ['apple'], visits: 0 }, 'fields come back typed, without metadata')
  t.same(Object.keys(await redis.hgetall(sessionKey('sess:', ID_A))).sort(), ['@c', '@x', 'cart', 'user', 'visits'],
    'one hash, one field per attribute')

  // Two requests read the same session, then each changes a different field (in place, for the array).
  const first = { ...(await store.load(ID_A)) }
  const second = { ...(await store.load(ID_A)) }
  adapter.track(first)
  adapter.track(second)
  ;(first.cart as string[]).push('pear')
  second.theme = 'dark'
  delete second.visits
  await store.increment(ID_A, 'visits')
  await Promise.all([set(ID_A, first), set(ID_A, second)])
  t.same(await store.load(ID_A), { user: 'erin', cart: ['apple', 'pear'], theme: 'dark' },
    'both changes stick; the removed field is removed; nothing else is rewritten')
  t.notMatch(await redis.info('commandstats'), /cmdstat_set:/, 'no whole-session SET, ever')

  await set(ID_A, first) // unchanged since its last save
  t.same(await store.load(ID_A), { user: 'erin', cart: ['apple', 'pear'], theme: 'dark' }, 'a save with no change writes nothing')

  const get = async (id: string) => await new Promise<unknown>((resolve, reject) =>
    adapter.get(id, (err, session) => (err ? reject(err) : resolve(session))))
  const increment = { field: 'visits', applied: false }
  let loading: Promise<unknown> = Promise.resolve()
  adapter.withIncrementOnLoad(increment, () => { loading = get(ID_A) })
  t.match(await loading, { visits: 1 }, 'a load started inside withIncrementOnLoad counts the visit in the same script')
  t.equal(increment.applied, true)
  t.match(await get(ID_A), { visits: 1 }, 'a load outside it does not')

  t.equal(await store.increment(ID_B, 'visits'), null, 'no increment on a missing session')
  t.equal(await redis.exists(sessionKey('sess:', ID_B)), 0, 'and the session is not resurrected')
  t.equal(await store.load('../../etc'), null, 'an id of another format never becomes a key')
  t.equal(await store.load('*'), null)

  await store.create(ID_B, { user: 'erin' })
  t.same((await store.listForUser('erin')).map(s => s.id), [ID_A, ID_B])
  await redis.del(sessionKey('sess:', ID_A)) // as if it had expired
  t.same((await store.listForUser('erin')).map(s => s.id), [ID_B], 'a session that is gone is pruned from the index')
  t.same(await redis.zrange(userIndexKey('sess:', 'erin'), '0', '-1'), [ID_B])
  t.equal(await store.destroyAllForUser('erin'), 1)
  t.same(await redis.keys('*'), [], 'log out everywhere leaves nothing behind')
})
