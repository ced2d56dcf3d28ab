// The session store under concurrency, through nginx and three replicas: no lost updates, exact Redis cost per
// request, login/logout/revoke semantics, absolute lifetime, scripts re-loaded after SCRIPT FLUSH, fast 503s.
import { Redis } from 'ioredis'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { redisClient, startStack } from '../helpers/stack.ts'
import { keyPatterns, sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'
import { commentEngine } from '../helpers/engine.ts'

async function commandStats (redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats')
  const calls: Record<string, number> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2])
  return calls
}

/** The session id inside the signed cookie value ("<id>.<signature>"). */
function sessionIdOf (browser: Browser): string {
  const value = browser.cookies.get('sid') ?? ''
  return value.slice(0, value.indexOf('.'))
}

function delta (before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, n] of Object.entries(after)) if (n !== (before[name] ?? 0)) out[name] = n - (before[name] ?? 0)
  return out
}

commentEngine(t)

t.test('store behaviour through nginx and three replicas', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const sessionKeys = async () => await redis.keys(keyPatterns('sess:').sessions)

  t.test('1,000 concurrent visits with one cookie: the counter ends at exactly 1,000', async t => {
    const user = new Browser(stack.url)
    await user.login('counter')
    const replies = await Promise.all(Array.from({ length: 1000 }, async () => await user.get('/')))
    t.same(replies.filter(r => r.status !== 200).map(r => r.status), [], 'every visit answered 200')
    const counts = replies.map(r => visitsOf(r.text)).sort((a, b) => (a ?? 0) - (b ?? 0))
    t.same(counts, Array.from({ length: 1000 }, (_, i) => i + 1), 'each visit got its own number, 1 … 1,000')
    t.same(new Set(replies.map(r => r.servedBy)).size, 3, 'spread over the three replicas')
    const [key] = await sessionKeys()
    t.equal(await redis.hget(key!, 'visits'), '1000')
    await redis.del(key!)
  })

  t.test('two concurrent requests setting two different fields: both survive', async t => {
    for (let round = 0; round < 10; round++) {
      const user = new Browser(stack.url)
      await user.login(`prefs${round}`)
      const [a, b] = await Promise.all([
        user.post('/preferences', { theme: 'dark' }),
        user.post('/preferences', { language: 'fr' })
      ])
      t.equal(a.status, 302)
      t.equal(b.status, 302)
      t.equal((await user.get('/preferences')).text, 'theme=dark language=fr\n', `round ${round}: ${a.servedBy} and ${b.servedBy}`)
    }
  })

  t.test('Redis commands per request, exactly; nothing rewritten when nothing changed', async t => {
    const user = new Browser(stack.url)
    await user.login('costly')
    await user.get('/') // the first visit creates the counter field
    const N = 100
    let before = await commandStats(redis)
    for (let i = 0; i < N; i++) await user.get('/')
    let used = delta(before, await commandStats(redis))
    // One round trip, one command (EVALSHA): load, slide and count the visit (TIME, HGETALL, PEXPIREAT, HINCRBY,
    // counted inside the script too). INFO itself is the one extra call.
    t.same(used, { evalsha: N, time: N, hgetall: N, pexpireat: N, hincrby: N, info: 1 }, 'hot GET /')

    before = await commandStats(redis)
    for (let i = 0; i < N; i++) await user.get('/whoami')
    used = delta(before, await commandStats(redis))
    t.same(used, { evalsha: N, time: N, hgetall: N, pexpireat: N, info: 1 }, 'read-only request: one round trip, slide included')
    t.notOk(used.set || used.hset, 'nothing written but the slide')

    before = await commandStats(redis)
    for (let i = 0; i < N; i++) await new Browser(stack.url).get('/')
    used = delta(before, await commandStats(redis))
    t.same(used, { info: 1 }, 'anonymous visitors cost Redis nothing')
  })

  t.test('login issues a new id and deletes the old key; logout removes the index entry', async t => {
    const user = new Browser(stack.url)
    await user.login('fixme')
    const firstId = sessionIdOf(user)
    t.equal(await redis.exists(sessionKey('sess:', firstId)), 1)
    await user.login('fixme')
    const secondId = sessionIdOf(user)
    t.not(secondId, firstId, 'a new session id at login')
    t.equal(await redis.exists(sessionKey('sess:', firstId)), 0, 'the old session is gone')
    t.same(await redis.zrange(userIndexKey('sess:', 'fixme'), '0', '-1'), [secondId], 'the index holds only the new one')
    t.ok(secondId.length >= 22, 'at least 128 random bits (base64url)')
    await user.post('/logout')
    t.equal(await redis.exists(userIndexKey('sess:', 'fixme')), 0, 'logout removed the index entry (and the empty index)')
  })

  t.test('revoke one session, then log out everywhere: effective on every replica at once', async t => {
    const devices = [new Browser(stack.url, { 'user-agent': 'phone' }), new Browser(stack.url, { 'user-agent': 'laptop' }), new Browser(stack.url, { 'user-agent': 'tablet' })]
    for (const device of devices) await device.login('dana')
    const list = await devices[0]!.get('/sessions')
    t.match(list.text, /^Sessions of dana: 3$/m)
    t.match(list.text, /"phone".*\(this one\)/)
    t.match(list.text, /"laptop"/)
    const laptop = /^(\S{16}) .*"laptop"/m.exec(list.text)![1]!
    t.equal((await devices[0]!.post(`/sessions/${laptop}/revoke`)).status, 302)
    for (let i = 0; i < 3; i++) {
      const res = await devices[1]!.get('/')
      t.equal(res.text, `${TEXT.notLoggedIn}\n`, `revoked session refused on ${res.servedBy}`)
    }
    t.match((await devices[2]!.get('/')).text, /Logged in as dana/, 'the other sessions live on')
    t.match((await devices[0]!.get('/sessions')).text, /^Sessions of dana: 2$/m)

    t.equal((await devices[2]!.post('/sessions/revoke-all')).status, 302)
    for (let i = 0; i < 3; i++) {
      const res = await devices[0]!.get('/')
      t.equal(res.text, `${TEXT.notLoggedIn}\n`, `logged out everywhere, checked on ${res.servedBy}`)
    }
    t.equal(await redis.exists(userIndexKey('sess:', 'dana')), 0, 'the index is gone too')
    t.equal((await devices[0]!.post('/sessions/AAAAAAAAAAAAAAAA/revoke')).status, 401, 'revoking needs a session')
  })

  t.test('after SCRIPT FLUSH the hot path goes on (scripts re-sent transparently)', async t => {
    const user = new Browser(stack.url)
    await user.login('flush')
    t.equal(visitsOf((await user.get('/')).text), 1)
    await redis.script('FLUSH')
    for (let visit = 2; visit <= 5; visit++) {
      const res = await user.get('/')
      t.equal(visitsOf(res.text), visit, `visit ${visit} on ${res.servedBy}`)
    }
  })

  t.test('a stalled Redis gives a fast, clear 503, and nothing half-written', async t => {
    const user = new Browser(stack.url)
    await user.login('stall')
    await user.get('/')
    const admin = redisClient(t, stack.redisUrl)
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL')
    const started = Date.now()
    const res = await user.get('/')
    const took = Date.now() - started
    t.equal(res.status, 503)
    t.equal(res.headers.get('retry-after'), '1')
    t.match(res.text, /session store is unavailable/)
    t.ok(took < 1000, `answered in ${took} ms`)
    await pollUntil('Redis to resume', async () => ((await user.get('/')).status === 200 ? true : undefined), scaled(5000))
    const fields = await redis.hgetall(sessionKey('sess:', sessionIdOf(user)))
    t.equal(fields.user, '"stall"', 'the session is whole')
    t.ok(fields['@x'])
  })
})

t.test('absolute lifetime ends a busy session; the user index never outlives its sessions', async t => {
  const stack = await startStack(t, { env: { SESSION_IDLE_TTL: '1s', SESSION_MAX_AGE: '2500ms' } })
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(stack.url)
  const loggedInAt = Date.now()
  await user.login('busy')
  const indexTtl = await redis.pttl(userIndexKey('sess:', 'busy'))
  t.ok(indexTtl > 2500 && indexTtl <= 3500, `the index expires with its last session (+1 s slack): ${indexTtl} ms`)
  // Visits every 200 ms (well inside the 1 s idle time) until the session ends.
  const ended = await pollUntil('the absolute lifetime to end the session', async () => {
    const res = await user.get('/')
    return visitsOf(res.text) === null ? Date.now() - loggedInAt : undefined
  }, scaled(6000), 200)
  t.ok(ended >= 2400 && ended < 3500, `ended ${ended} ms after login despite constant activity`)
  await pollUntil('the index to expire', async () => ((await redis.exists(userIndexKey('sess:', 'busy'))) === 0 ? true : undefined), scaled(3000))
  t.same(await redis.keys('*'), [], 'nothing left in Redis')
})
