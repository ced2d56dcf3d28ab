// PATCH, INCREMENT and LOAD's counter: a session is written field by field, and never brought back once gone.
import t from 'tap'
import { sessionKey } from '../../services/session-store/keys.ts'
import { encodeFields } from '../../services/session-store/store.ts'
import { newId, PREFIX, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('write sends only what changed: a field set elsewhere meanwhile survives', async t => {
  const { store, redis } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'ann', theme: 'light', cart: ['apple'] })
  const before = encodeFields((await store.load(id))!)
  await store.increment(id, 'visits') // another request, meanwhile
  await store.write(id, before, encodeFields({ user: 'ann', cart: ['apple', 'pear'] }))
  t.same(await store.load(id), { user: 'ann', cart: ['apple', 'pear'], visits: 1 }, 'changed field set, removed field deleted, the counter kept')
  t.equal(await redis.ttl(sessionKey(PREFIX, id)) > 0, true, 'the key keeps its expiry')
})

t.test('a write to a session ended meanwhile does not bring it back', async t => {
  const { store, redis } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'bob' })
  const before = encodeFields((await store.load(id))!)
  await store.destroy(id)
  await store.write(id, before, encodeFields({ user: 'bob', theme: 'dark' }))
  t.equal(await redis.exists(sessionKey(PREFIX, id)), 0)
  t.equal(await store.increment(id, 'visits'), null, 'nor does a counter')
  t.equal(await redis.exists(sessionKey(PREFIX, id)), 0)
})

t.test('a load can count the visit in the same script; increments are atomic', async t => {
  const { store } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'cy' })
  t.match(await store.load(id, 'visits'), { visits: 1 })
  t.match(await store.load(id, 'visits'), { visits: 2 })
  t.match(await store.load(id), { visits: 2 }, 'a plain load counts nothing')
  const counts = await Promise.all(Array.from({ length: 50 }, async () => await store.increment(id, 'visits')))
  t.same(counts.sort((a, b) => a! - b!), Array.from({ length: 50 }, (_, i) => i + 3), '50 concurrent increments, each its own number')
})

t.test('what never becomes a key or a field', async t => {
  const { store, redis } = await storeOn(t, server)
  t.equal(await store.load('../../etc/passwd'), null, 'an id of another format is no session')
  t.equal(await store.load('*'), null)
  t.equal(await store.increment('*', 'visits'), null)
  await store.destroy('*')
  await t.rejects(store.create(newId(), { '@x': 0 }), /may not start with "@"/, 'a field may not pose as the store\'s own')
  t.same(await redis.keys('*'), [], 'nothing written')
})
