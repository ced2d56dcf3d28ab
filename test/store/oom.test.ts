// A full Redis (maxmemory reached, noeviction): every script that may grow memory is refused whole before it runs
// (`#!lua`), so a login refused for it leaves nothing behind; the scripts flagged allow-oom (read and slide, list,
// end a session) go on, so that users already logged in keep being served and can still log out.
import t from 'tap'
import { SessionStoreUnavailableError } from '../../services/errors.ts'
import { endedKey, keyPatterns, loginRequestKey, sessionKey } from '../../services/session-store/keys.ts'
import { encodeFields } from '../../services/session-store/store.ts'
import { newId, PREFIX, startRedis, storeOn } from './helper.ts'

const server = await startRedis(t)

t.test('at maxmemory: writes refused with a clear error and nothing half-written; reads, lists and logouts go on', async t => {
  const { store, redis } = await storeOn(t, server, { loginRetries: true })
  const kept = newId()
  const other = newId()
  await store.create(kept, { user: 'ann', theme: 'light' })
  await store.create(other, { user: 'ann' })
  t.equal(await redis.config('GET', 'maxmemory-policy').then(r => r[1]), 'noeviction')
  // Far below what Redis uses already: full from now on (CONFIG SET itself is not refused).
  await redis.config('SET', 'maxmemory', '1')
  t.teardown(async () => await redis.config('SET', 'maxmemory', '0'))
  const keysBefore = (await redis.keys('*')).sort()

  const login = newId()
  const err = await store.create(login, { user: 'ann' }).catch(e => e)
  t.ok(err instanceof SessionStoreUnavailableError, 'a login: the store\'s own error (a 503 with Retry-After for the user)')
  t.equal(err.statusCode, 503)
  t.match(err.cause?.message, /^OOM/, 'saying why: Redis is out of memory')
  t.equal(await redis.exists(sessionKey(PREFIX, login)), 0, 'no session')
  await t.rejects(store.create(newId(), { cart: [] }), SessionStoreUnavailableError, 'an anonymous session neither')
  await t.rejects(store.loginSessionId('req-1', newId(), 'ann'), SessionStoreUnavailableError, 'nor a login\'s request id')
  t.equal(await redis.exists(loginRequestKey(PREFIX, 'req-1')), 0)
  await t.rejects(store.increment(kept, 'visits'), /unavailable/, 'a counter may grow: refused')
  const before = encodeFields((await store.load(kept))!)
  await t.rejects(store.write(kept, before, encodeFields({ user: 'ann', theme: 'dark' })), /unavailable/, 'a change of fields: refused')
  t.same((await redis.keys('*')).sort(), keysBefore, 'no key added, no index entry left behind')

  t.match(await store.load(kept), { user: 'ann', theme: 'light' }, 'a logged-in user is still served')
  t.same((await store.listForUser('ann')).map(s => s.id).sort(), [kept, other].sort(), 'and can list their sessions')
  await store.destroy(other)
  t.equal(await redis.exists(sessionKey(PREFIX, other)), 0, 'and log one out')
  t.equal(await redis.exists(endedKey(PREFIX, other)), 1, 'leaving its ended marker all the same: a re-sent login cannot bring it back')
  t.same((await store.listForUser('ann')).map(s => s.id), [kept], 'its index entry gone too')

  await redis.config('SET', 'maxmemory', '0')
  await store.create(login, { user: 'ann' })
  t.equal((await redis.keys(keyPatterns(PREFIX).sessions)).length, 2, 'with memory again, logins succeed at once')
})
