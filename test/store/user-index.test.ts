// INDEX_ADD, INDEX_LIST, INDEX_REMOVE and the operations on a user's sessions: the index lists every live session
// of a user, oldest first, never outlives them, and holds at most the cap: a login beyond it ends the oldest.
import t from 'tap'
import { keyPatterns, sessionHandle, sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { encodeFields } from '../../services/session-store/store.ts'
import { newId, nextMillisecond, PREFIX, redisNow, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('a login beyond the cap ends the oldest session, at once and everywhere', async t => {
  const { store, redis } = await storeOn(t, server, { maxPerUser: 3 })
  const ids = [newId(), newId(), newId(), newId()]
  for (const id of ids) {
    await store.create(id, { user: 'ann' })
    await nextMillisecond(redis)
  }
  t.equal(await store.load(ids[0]!), null, 'the first login\'s session is gone')
  t.equal(await redis.exists(sessionKey(PREFIX, ids[0]!)), 0, 'its key deleted, not left to expire')
  t.same((await store.listForUser('ann')).map(s => s.id), ids.slice(1), 'the three newest are listed, oldest first')
  t.equal(await redis.zcard(userIndexKey(PREFIX, 'ann')), 3)
  const another = newId()
  await store.create(another, { user: 'bob' })
  t.match(await store.load(ids[1]!), { user: 'ann' }, 'another user\'s login counts against their own cap only')
})

t.test('an index grown under a larger cap shrinks by at most 100 a login, never in one long script', async t => {
  const { store: after } = await storeOn(t, server, { maxPerUser: 2 })
  const { store: before, redis } = await storeOn(t, server, { maxPerUser: 200 })
  // One after the other: 105 at once could outlast a write's window on a busy machine (and rightly be refused).
  for (let i = 0; i < 105; i++) await before.create(newId(), { user: 'cy' })
  await after.create(newId(), { user: 'cy' })
  t.equal(await redis.zcard(userIndexKey(PREFIX, 'cy')), 6, '106 - 100 evicted')
  t.equal((await redis.keys(keyPatterns(PREFIX).sessions)).length, 6, 'and their sessions ended')
  await after.create(newId(), { user: 'cy' })
  t.equal(await redis.zcard(userIndexKey(PREFIX, 'cy')), 2, 'the next login brings it down to the cap')
  t.equal((await after.listForUser('cy')).length, 2)
})

t.test('the index expires with its longest-lived session (+1 s slack); sessions gone are pruned when listed', async t => {
  const { store, redis } = await storeOn(t, server, { idleTtlMs: 60_000, maxAgeMs: 120_000 })
  const [a, b] = [newId(), newId()]
  const start = await redisNow(redis)
  await store.create(a, { user: 'dee' })
  await nextMillisecond(redis)
  await store.create(b, { user: 'dee' })
  const end = await redisNow(redis)
  const index = userIndexKey(PREFIX, 'dee')
  const expiry = await redis.pexpiretime(index)
  t.ok(expiry >= start + 121_000 && expiry <= end + 121_000, 'the last login\'s deadline + 1 s')
  t.equal(Number(await redis.zscore(index, b)), expiry, 'scored by deadline (+ slack)')
  await redis.del(sessionKey(PREFIX, a)) // as if it had expired idle
  t.same((await store.listForUser('dee')).map(s => s.id), [b], 'not listed')
  t.same(await redis.zrange(index, '0', '-1'), [b], 'and pruned from the index')
  await redis.zadd(index, String(start - 1), 'stale-entry-of-an-old-login')
  t.same((await store.listForUser('dee')).map(s => s.id), [b], 'an entry past its deadline is pruned by the list script')
  t.same(await redis.zrange(index, '0', '-1'), [b])
})

t.test('what a list shows, revoking by handle, log out everywhere', async t => {
  const { store, redis } = await storeOn(t, server)
  const [phone, laptop, tablet] = [newId(), newId(), newId()]
  for (const [id, ua] of [[phone, 'phone'], [laptop, 'laptop'], [tablet, 'tablet']] as const) {
    await store.create(id, { user: 'eve', ua })
    await nextMillisecond(redis)
  }
  const listed = await store.listForUser('eve', ['ua', 'missing'])
  t.same(listed.map(s => s.fields), [{ ua: 'phone' }, { ua: 'laptop' }, { ua: 'tablet' }], 'oldest first, with the fields asked for, when set')
  t.equal(listed[1]!.handle, sessionHandle(laptop), 'a handle, not the id, names each')
  t.notOk(JSON.stringify(listed.map(({ id, ...rest }) => rest)).includes(laptop), 'the id appears nowhere else')
  t.ok(listed.every(s => s.createdAt <= s.lastSeenAt && s.lastSeenAt < s.expiresAt))

  t.equal(await store.revoke('eve', sessionHandle(laptop)), true)
  t.equal(await store.load(laptop), null, 'the revoked session is gone')
  t.equal(await store.revoke('mallory', sessionHandle(phone)), false, 'a handle of another user\'s session revokes nothing')
  t.match(await store.load(phone), { user: 'eve' })

  t.equal(await store.destroyAllForUser('eve'), 2, 'log out everywhere: the two left')
  t.same(await redis.keys('*'), [], 'no session, no index left')
})

t.test('logout takes the session out of its index; the index goes with its last entry', async t => {
  const { store, redis } = await storeOn(t, server)
  const [a, b] = [newId(), newId()]
  await store.create(a, { user: 'fay' })
  await store.create(b, { user: 'fay' })
  await store.destroy(a)
  t.same(await redis.zrange(userIndexKey(PREFIX, 'fay'), '0', '-1'), [b])
  await store.destroy(b)
  t.equal(await redis.exists(userIndexKey(PREFIX, 'fay')), 0)
})

t.test('names that are one user share one index; a session that changes user moves to the new one', async t => {
  const { store, redis } = await storeOn(t, server, { userKey: user => user.toLowerCase(), maxPerUser: 2 })
  const [a, b, c] = [newId(), newId(), newId()]
  await store.create(a, { user: 'Gil' })
  await nextMillisecond(redis)
  await store.create(b, { user: 'gil' })
  await nextMillisecond(redis)
  t.same((await store.listForUser('GIL')).map(s => s.id), [a, b], 'one index for Gil, gil and GIL')
  await store.create(c, { user: 'GIL' })
  t.equal(await store.load(a), null, 'and one cap')

  const anonymous = newId()
  await store.create(anonymous, { cart: ['apple'] })
  t.same(await redis.keys(keyPatterns(PREFIX).indexes), [userIndexKey(PREFIX, 'gil')], 'a session without a user is in no index')
  await store.write(anonymous, encodeFields({ cart: ['apple'] }), encodeFields({ cart: ['apple'], user: 'hal' }))
  t.same((await store.listForUser('hal')).map(s => s.id), [anonymous], 'logging in in place indexes it under its user')
})
