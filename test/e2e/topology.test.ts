// The foundation, end to end through nginx: one login served by every replica, idle expiry, logout,
// a replica killed mid-session, readiness following Redis.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { keyPatterns } from '../../services/session-store/keys.ts'
import { redisClient, startStack } from '../helpers/stack.ts'
import { TEXT } from '../../services/views.ts'

t.test('one login, every replica, visits in order', async t => {
  const stack = await startStack(t)
  const user = new Browser(stack.url)
  await user.login('alice')
  const seen = new Set<string>()
  for (let visit = 1; visit <= 9; visit++) {
    const res = await user.get('/')
    t.equal(res.status, 200)
    t.equal(res.text, `${TEXT.visits('alice', visit)}\n`)
    seen.add(res.servedBy ?? 'nobody')
  }
  t.same([...seen].sort(), ['replica-1', 'replica-2', 'replica-3'], 'all three replicas served the one session')
  t.equal(user.cookies.size, 1, 'one session cookie throughout')

  const html = await user.get('/', { headers: { accept: 'text/html' } })
  t.match(html.headers.get('content-type'), /text\/html/)
  t.match(html.text, /Logged in as alice\. Visits: 10/)
  t.match(html.text, /Served by <strong>replica-\d<\/strong>/)

  const anonymous = await new Browser(stack.url).get('/')
  t.equal(anonymous.text, `${TEXT.notLoggedIn}\n`)
  t.ok(anonymous.headers.get('x-request-id'), 'nginx adds a request id')
  const missing = await new Browser(stack.url).get('/nowhere')
  t.equal(missing.status, 404)
  t.ok(missing.servedBy, 'errors also name the replica')
})

t.test('the session expires after the idle time, and not before while visits continue', async t => {
  const stack = await startStack(t, { env: { SESSION_IDLE_TTL: '1500ms' } })
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(stack.url)
  await user.login('idle')
  // Six visits 500 ms apart: 3 s in all, twice the idle time, but never idle for long. (The pauses pace the
  // visits; nothing is being waited for.)
  for (let visit = 1; visit <= 6; visit++) {
    await sleep(500)
    t.equal(visitsOf((await user.get('/')).text), visit, `visit ${visit} still logged in`)
  }
  // Now idle: Redis drops the key when the idle time has passed (polled, with a deadline).
  await pollUntil('the idle session to expire', async () =>
    (await redis.keys(keyPatterns('sess:').sessions)).length === 0 ? true : undefined, scaled(5000))
  t.equal((await user.get('/')).text, `${TEXT.notLoggedIn}\n`)
})

t.test('logout deletes the session in Redis; the old cookie is worthless', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(stack.url)
  await user.login('bob')
  await user.get('/')
  const oldCookie = user.cookieHeader
  t.equal((await redis.keys(keyPatterns('sess:').sessions)).length, 1)
  const out = await user.post('/logout')
  t.equal(out.status, 302)
  t.equal(out.headers.get('location'), '/')
  t.equal(user.cookies.size, 0, 'the cookie is cleared')
  const { sessions, indexes } = keyPatterns('sess:')
  t.same([...await redis.keys(sessions), ...await redis.keys(indexes)], [], 'session and user index are gone from Redis')
  for (let i = 0; i < 3; i++) {
    const replay = await new Browser(stack.url).get('/', { headers: { cookie: oldCookie } })
    t.equal(replay.text, `${TEXT.notLoggedIn}\n`, `replayed cookie on ${replay.servedBy}`)
  }
})

t.test('a replica killed mid-session: no visit fails, the count goes on, it rejoins', async t => {
  const stack = await startStack(t)
  const user = new Browser(stack.url)
  await user.login('carol')
  let expected = 0
  const visit = async () => {
    const res = await user.get('/')
    expected++
    t.equal(res.status, 200)
    t.equal(visitsOf(res.text), expected, `visit ${expected} on ${res.servedBy}`)
    return res.servedBy
  }
  for (let i = 0; i < 6; i++) await visit()

  const victim = stack.replica('replica-2')
  const killed = victim.kill()
  const servedWhileDown = new Set<string | null>()
  for (let i = 0; i < 9; i++) servedWhileDown.add(await visit())
  await killed
  t.notOk(servedWhileDown.has('replica-2'), 'the dead replica served nothing')
  t.same([...servedWhileDown].sort(), ['replica-1', 'replica-3'], 'the survivors served')

  await victim.restart()
  // nginx rests a failed replica for fail_timeout (5 s), then tries it again.
  await pollUntil('the restarted replica to serve again', async () => ((await visit()) === 'replica-2' ? true : undefined), scaled(15_000), 100)
  t.pass(`replica-2 served again; ${expected} visits, none lost`)
})

t.test('readiness is 503 while Redis is unreachable and 200 when it returns', async t => {
  const stack = await startStack(t)
  const replica = stack.replicas[0]!
  const ready = async () => (await fetch(`${replica.url}/health/ready`)).status
  t.equal(await ready(), 200)
  await stack.redis!.stop()
  t.equal(await ready(), 503, 'not ready without Redis')
  t.equal((await fetch(`${replica.url}/health/live`)).status, 200, 'but alive')
  await stack.redis!.restart()
  await pollUntil('readiness to return', async () => ((await ready()) === 200 ? true : undefined), scaled(10_000))
  t.pass('ready again without a restart of the replica')
})
