// A login nginx re-sends (its replica died before answering) arrives again with the same X-Request-Id, on any
// replica: it must leave the user with one session, the one whose cookie the browser gets, and nothing else.
// Request ids are public (logs, the answer's header), so only one sent with nginx's secret is recognised.
import t from 'tap'
import { buildTestApp, startRedis, User } from './helper.ts'
import { keyPatterns, sessionHandle } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'

const server = await startRedis(t)
const requestId = () => crypto.randomUUID().replaceAll('-', '')
const BALANCER_SECRET = 'balancer-secret-of-the-app-tier-tests-0123'
/** What nginx sends: its request id and the secret it shares with the replicas. */
const viaNginx = (id: string) => ({ 'x-request-id': id, 'x-balancer-secret': BALANCER_SECRET })
const withSecret = async (t: Parameters<typeof buildTestApp>[0]) => await buildTestApp(t, server, { BALANCER_SECRET })

t.test('the same login twice (same request id): one session, the same cookie, one line in /sessions', async t => {
  const { app, redis } = await withSecret(t)
  const id = requestId()
  const first = await new User(app).post('/login', { username: 'rita' }, viaNginx(id))
  const browser = new User(app)
  const repeat = await browser.post('/login', { username: 'rita' }, viaNginx(id))
  t.equal(first.statusCode, 302)
  t.equal(repeat.statusCode, 302, 'the repeat succeeds as the first did')
  t.equal(repeat.cookies[0]?.value, first.cookies[0]?.value, 'and sets the same cookie: the same session')
  t.equal((await browser.get('/')).body, `${TEXT.visits('rita', 1)}\n`)
  t.match((await browser.get('/sessions')).body, /^Sessions of rita: 1\n/, 'no second session in the list')
  t.equal((await redis.keys(keyPatterns('sess:').sessions)).length, 1, 'one session in Redis')
})

t.test('the repeat arriving while the first is still writing: still one session', async t => {
  const { app } = await withSecret(t)
  const id = requestId()
  const users = [new User(app), new User(app), new User(app)]
  const answers = await Promise.all(users.map(async u => await u.post('/login', { username: 'sam' }, viaNginx(id))))
  t.same(answers.map(a => a.statusCode), [302, 302, 302])
  t.equal(new Set(answers.map(a => a.cookies[0]?.value)).size, 1, 'one cookie')
  t.match((await users[0]!.get('/sessions')).body, /^Sessions of sam: 1\n/)
})

t.test('different request ids are different logins; a request id is no way into another user\'s session', async t => {
  const { app } = await withSecret(t)
  const a = new User(app)
  const b = new User(app)
  await a.post('/login', { username: 'tom' }, viaNginx(requestId()))
  await b.post('/login', { username: 'tom' }, viaNginx(requestId()))
  t.match((await a.get('/sessions')).body, /^Sessions of tom: 2\n/, 'two logins, two sessions')

  // Even with the secret, tom's request id under another name gets no session at all, least of all tom's.
  const id = requestId()
  const tom = new User(app)
  await tom.post('/login', { username: 'tom' }, viaNginx(id))
  const mallory = new User(app)
  const replay = await mallory.post('/login', { username: 'mallory' }, viaNginx(id))
  t.equal(replay.statusCode, 409, 'refused as a conflict, not as an outage')
  t.equal(replay.body, 'This login request was already used; please log in again\n')
  t.equal(mallory.cookies.size, 0, 'no cookie')
  t.equal((await tom.get('/')).body, `${TEXT.visits('tom', 1)}\n`, 'tom\'s session untouched')
})

t.test('a request id without nginx\'s secret is not recognised: a replay gets a session of its own, never the user\'s', async t => {
  const { app } = await withSecret(t)
  const id = requestId()
  const victim = new User(app)
  const login = await victim.post('/login', { username: 'vera' }, viaNginx(id))
  for (const secret of [undefined, 'a-guess-at-the-balancer-secret-0123456789']) {
    const attacker = new User(app)
    const replay = await attacker.post('/login', { username: 'vera' }, { 'x-request-id': id, ...(secret && { 'x-balancer-secret': secret }) })
    t.equal(replay.statusCode, 302, 'an ordinary login (anyone may log in by name here)')
    t.not(replay.cookies[0]?.value, login.cookies[0]?.value, `not the victim's cookie (${secret ? 'a wrong secret' : 'no secret'})`)
  }
  t.equal((await victim.get('/')).body, `${TEXT.visits('vera', 1)}\n`, 'the victim\'s own count: nobody else visited with it')
})

t.test('a login repeated after its session was ended does not bring it back', async t => {
  const { app } = await withSecret(t)
  for (const end of ['logout', 'revoke', 'log out everywhere'] as const) {
    const id = requestId()
    const user = new User(app)
    await user.post('/login', { username: 'otto' }, viaNginx(id))
    const stolen = new Map(user.cookies)
    if (end === 'logout') await user.post('/logout')
    else if (end === 'log out everywhere') await user.post('/sessions/revoke-all')
    else {
      const other = new User(app)
      await other.login('otto')
      const revoked = await other.post(`/sessions/${sessionHandle(decodeURIComponent(user.cookies.get('sid')!).split('.')[0]!)}/revoke`)
      t.equal(revoked.statusCode, 302, 'revoked from another device')
    }
    const repeat = await new User(app).post('/login', { username: 'otto' }, viaNginx(id))
    t.equal(repeat.statusCode, 409, `after ${end}: the repeat is refused`)
    const thief = new User(app)
    for (const [name, value] of stolen) thief.cookies.set(name, value)
    t.equal((await thief.get('/')).body, `${TEXT.notLoggedIn}\n`, `after ${end}: the ended session stays ended`)
  }
})

t.test('without a balancer\'s request id (Fastify numbers requests itself), every login gets a fresh random id', async t => {
  const { app, redis } = await withSecret(t)
  await new User(app).login('uma')
  await new User(app).login('uma')
  t.equal((await redis.keys(keyPatterns('sess:').sessions)).length, 2)
  t.equal((await redis.keys('sess:r:*')).length, 0, 'nothing recorded')
})
