// A login nginx re-sends (its replica died before answering) arrives again with the same X-Request-Id, on any
// replica: it must leave the user with one session, the one whose cookie the browser gets, and nothing else.
import t from 'tap'
import { buildTestApp, startRedis, User } from './helper.ts'
import { keyPatterns } from '../../services/session-store/keys.ts'

const server = await startRedis(t)
const requestId = () => crypto.randomUUID().replaceAll('-', '')

t.test('the same login twice (same request id): one session, the same cookie, one line in /sessions', async t => {
  const { app, redis } = await buildTestApp(t, server)
  const id = requestId()
  const first = await new User(app).post('/login', { username: 'rita' }, { 'x-request-id': id })
  const browser = new User(app)
  const repeat = await browser.post('/login', { username: 'rita' }, { 'x-request-id': id })
  t.equal(first.statusCode, 302)
  t.equal(repeat.statusCode, 302, 'the repeat succeeds as the first did')
  t.equal(repeat.cookies[0]?.value, first.cookies[0]?.value, 'and sets the same cookie: the same session')
  t.equal((await browser.get('/')).body, 'Logged in as rita. Visits: 1\n')
  t.match((await browser.get('/sessions')).body, /^Sessions of rita: 1\n/, 'no second session in the list')
  t.equal((await redis.keys(keyPatterns('sess:').sessions)).length, 1, 'one session in Redis')
})

t.test('the repeat arriving while the first is still writing: still one session', async t => {
  const { app } = await buildTestApp(t, server)
  const id = requestId()
  const users = [new User(app), new User(app), new User(app)]
  const answers = await Promise.all(users.map(async u => await u.post('/login', { username: 'sam' }, { 'x-request-id': id })))
  t.same(answers.map(a => a.statusCode), [302, 302, 302])
  t.equal(new Set(answers.map(a => a.cookies[0]?.value)).size, 1, 'one cookie')
  t.match((await users[0]!.get('/sessions')).body, /^Sessions of sam: 1\n/)
})

t.test('different request ids are different logins; a request id is no way into another user\'s session', async t => {
  const { app } = await buildTestApp(t, server)
  const a = new User(app)
  const b = new User(app)
  await a.post('/login', { username: 'tom' }, { 'x-request-id': requestId() })
  await b.post('/login', { username: 'tom' }, { 'x-request-id': requestId() })
  t.match((await a.get('/sessions')).body, /^Sessions of tom: 2\n/, 'two logins, two sessions')

  // Someone replaying tom's request id under another name gets no session at all, least of all tom's.
  const id = requestId()
  const tom = new User(app)
  await tom.post('/login', { username: 'tom' }, { 'x-request-id': id })
  const mallory = new User(app)
  const replay = await mallory.post('/login', { username: 'mallory' }, { 'x-request-id': id })
  t.equal(replay.statusCode, 503, 'refused')
  t.equal(mallory.cookies.size, 0, 'no cookie')
  t.equal((await tom.get('/')).body, 'Logged in as tom. Visits: 1\n', 'tom\'s session untouched')
})

t.test('without a balancer\'s request id (Fastify numbers requests itself), every login gets a fresh random id', async t => {
  const { app, redis } = await buildTestApp(t, server)
  await new User(app).login('uma')
  await new User(app).login('uma')
  t.equal((await redis.keys(keyPatterns('sess:').sessions)).length, 2)
  t.equal((await redis.keys('sess:r:*')).length, 0, 'nothing recorded')
})
