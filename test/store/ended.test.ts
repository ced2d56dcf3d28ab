// DESTROY's ended marker, LOGIN_ID and LOGIN_ID_FORGET: nginx may re-send a login whose replica died before
// answering. The repeat must land on the session its first attempt made, never make a second one, and never bring
// back one that was ended meanwhile.
import t from 'tap'
import { LoginConflictError } from '../../services/errors.ts'
import { endedKey, loginRequestKey, sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { newId, PREFIX, redisNow, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('a session ended soon after its login stays ended when the login is re-sent', async t => {
  const { store, redis } = await storeOn(t, server, { loginRetries: true })
  const id = newId()
  await store.create(id, { user: 'ann' })
  const created = Number(await redis.hget(sessionKey(PREFIX, id), '@c'))
  await store.destroy(id)
  t.equal(await redis.pexpiretime(endedKey(PREFIX, id)), created + 15_000, 'a marker until the login retry window ends (15 s after login)')
  const err = await store.create(id, { user: 'ann' }).catch(e => e)
  t.ok(err instanceof LoginConflictError, 'the repeat is refused')
  t.equal(err.statusCode, 409)
  t.equal(await redis.exists(sessionKey(PREFIX, id)), 0, 'and the session stays ended')
  t.same(await store.listForUser('ann'), [], 'with no index entry left by the refused repeat')
})

t.test('without login retries (no balancer secret) no marker is written', async t => {
  const { store, redis } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'bob' })
  await store.destroy(id)
  t.same(await redis.keys('*'), [])
})

t.test('a session older than the retry window leaves no marker', async t => {
  const { store, redis } = await storeOn(t, server, { loginRetries: true })
  const id = newId()
  await store.create(id, { user: 'cy' })
  await redis.hset(sessionKey(PREFIX, id), '@c', await redisNow(redis) - 15_001) // logged in over 15 s ago
  await store.destroy(id)
  t.same(await redis.keys('*'), [])
})

t.test('a login\'s request id names one session, for one user', async t => {
  const { store, redis } = await storeOn(t, server, { loginRetries: true })
  const first = newId()
  t.equal(await store.loginSessionId('req-a', first, 'dee'), first, 'the first attempt records its fresh id')
  t.equal(await store.loginSessionId('req-a', newId(), 'dee'), first, 'a repeat gets the same id back')
  await store.create(first, { user: 'dee' })
  await store.create(first, { user: 'dee' }) // the repeat writes the same session: done, no error
  t.equal((await store.listForUser('dee')).length, 1, 'one session')
  await t.rejects(store.loginSessionId('req-a', newId(), 'eve'), LoginConflictError, 'the same request id for another user: refused (a replay)')
  const remembered = await redis.pttl(loginRequestKey(PREFIX, 'req-a'))
  t.ok(remembered > 0 && remembered <= 15_000, `remembered no longer than the retry window (${remembered} ms)`)

  const refused = newId()
  await store.loginSessionId('req-b', refused, 'fay')
  await store.forgetLoginSessionId('req-b', newId())
  t.equal(await redis.exists(loginRequestKey(PREFIX, 'req-b')), 1, 'forgetting needs the id it names')
  await store.forgetLoginSessionId('req-b', refused)
  t.equal(await redis.exists(loginRequestKey(PREFIX, 'req-b')), 0, 'a refused login leaves no record behind')
})

t.test('a session id already in use by another user is never taken over', async t => {
  const { store, redis } = await storeOn(t, server)
  const id = newId()
  await store.create(id, { user: 'gil' })
  await t.rejects(store.create(id, { user: 'hal' }), /unavailable/)
  t.equal(await redis.hget(sessionKey(PREFIX, id), 'user'), '"gil"')
  t.equal(await redis.exists(userIndexKey(PREFIX, 'hal')), 0, 'and the index entry the refused login wrote is taken back')
})
