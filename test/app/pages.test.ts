// The tutorial's pages through inject(): text for curl, JSON for scripts, HTML for browsers; login, visits,
// logout, the guard, errors and 404s, each answer naming the replica.
import { Redis } from 'ioredis'
import t from 'tap'
import { freePort } from '../../harness/ports.ts'
import { buildApp } from '../../services/app.ts'
import { loadConfig } from '../../services/config.ts'
import { USERNAME_RULE } from '../../services/errors.ts'
import { keyPatterns } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'
import { buildTestApp, SECRET, startRedis, User } from './helper.ts'

const JSON_ACCEPT = { accept: 'application/json' }

t.test('pages', async t => {
  const server = await startRedis(t)

  t.test('anonymous: the tutorial\'s page says so; JSON clients get a 401 they can act on', async t => {
    const { app } = await buildTestApp(t, server)
    const user = new User(app)
    const text = await user.get('/')
    t.equal(text.statusCode, 200)
    t.equal(text.body, `${TEXT.notLoggedIn}\n`)
    t.equal(text.headers['x-served-by'], 'replica-test')
    const json = await user.get('/', JSON_ACCEPT)
    t.equal(json.statusCode, 401)
    t.match(json.headers['content-type'], /application\/json/)
    t.match(json.json(), { statusCode: 401, code: 'NOT_LOGGED_IN', message: TEXT.notLoggedIn, servedBy: 'replica-test', requestId: String })
    const html = await user.get('/', { accept: 'text/html' })
    t.match(html.body, /<a href="\/login">Log in<\/a>/)
    for (const path of ['/whoami', '/preferences', '/sessions']) {
      const res = await user.get(path)
      t.equal(res.statusCode, 401, `${path} needs a user`)
      t.equal(res.body, `${TEXT.notLoggedIn}\n`)
    }
    t.equal((await user.post('/preferences', { theme: 'dark' })).statusCode, 401)
    t.equal((await user.post('/sessions/revoke-all')).statusCode, 401)
  })

  t.test('login, visits in all three formats, logout', async t => {
    const { app, redis } = await buildTestApp(t, server)
    const user = new User(app)
    const login = await user.login('alice')
    t.equal(login.headers.location, '/')
    t.match(login.headers['set-cookie'], /^sid=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/, 'signed, HttpOnly, Lax; not Secure over plain HTTP')
    t.equal((await user.get('/')).body, `${TEXT.visits('alice', 1)}\n`)
    const json = await user.get('/', JSON_ACCEPT)
    t.same(Object.keys(json.json()).sort(), ['requestId', 'servedBy', 'user', 'visits'])
    t.match(json.json(), { user: 'alice', visits: 2, servedBy: 'replica-test', requestId: /\S/ })
    const html = await user.get('/', { accept: 'text/html,application/xhtml+xml' })
    t.match(html.headers['content-type'], /text\/html/)
    t.match(html.body, 'Logged in as alice. Visits: 3')
    t.match(html.body, /Served by <strong>replica-test<\/strong>/)
    t.equal((await user.get('/whoami')).body, `${TEXT.loggedInAs('alice')}\n`)
    t.same((await user.get('/whoami', JSON_ACCEPT)).json().user, 'alice')

    t.equal((await user.post('/preferences', { theme: 'dark', language: 'fr' })).statusCode, 302)
    t.equal((await user.get('/preferences')).body, 'theme=dark language=fr\n')

    const out = await user.post('/logout')
    t.equal(out.statusCode, 302)
    t.equal(user.cookies.size, 0, 'the cookie is cleared')
    t.same(await redis.keys(keyPatterns('sess:').all), [], 'session and user index are gone')
    t.equal((await user.get('/')).body, `${TEXT.notLoggedIn}\n`)
  })

  t.test('bad usernames get the rule in words; nothing is written', async t => {
    const { app, redis } = await buildTestApp(t, server)
    for (const username of ['', ' alice', 'a'.repeat(65), '<script>', 'a\u202Eb']) {
      const res = await new User(app).post('/login', { username })
      t.equal(res.statusCode, 400, JSON.stringify(username))
      t.equal(res.body, `${USERNAME_RULE}\n`)
    }
    t.equal(await redis.dbsize(), 0)
  })

  t.test('look-alike spellings of a name are one user, shown as typed; a pile of marks is refused, in words', async t => {
    const { app } = await buildTestApp(t, server)
    const [plain, ligature, fullwidth] = [new User(app), new User(app), new User(app)]
    await plain.login('fix')
    await ligature.login('ﬁx')
    await fullwidth.login('ＦＩＸ')
    t.match((await plain.get('/sessions')).body, /^Sessions of fix: 3\n/, 'fix, ﬁx and ＦＩＸ: one user, three sessions')
    t.equal((await ligature.get('/whoami')).body, `${TEXT.loggedInAs('ﬁx')}\n`, 'each shown as typed')
    await fullwidth.post('/sessions/revoke-all')
    t.equal((await plain.get('/')).body, `${TEXT.notLoggedIn}\n`, 'log out everywhere from ＦＩＸ logs fix out too')

    const zalgo = await new User(app).post('/login', { username: 'x\u0300\u0301\u0302\u0303\u0304' })
    t.equal(zalgo.statusCode, 400, 'five marks on one letter: refused')
    t.match(zalgo.body, /at most 4 accents or other marks/, 'and the answer says how many are allowed')
  })

  t.test('errors and 404s name the replica, in every format', async t => {
    const { app } = await buildTestApp(t, server)
    const user = new User(app)
    const missing = await user.get('/nowhere')
    t.equal(missing.statusCode, 404)
    t.equal(missing.body, 'Not found\n')
    t.equal(missing.headers['x-served-by'], 'replica-test')
    t.match((await user.get('/nowhere', JSON_ACCEPT)).json(), { statusCode: 404, code: 'NOT_FOUND', servedBy: 'replica-test' })
    t.match((await user.get('/nowhere', { accept: 'text/html' })).body, /<p>Not found<\/p>/)
    const xml = await user.request({ method: 'POST', url: '/login', payload: '<a/>', headers: { 'content-type': 'application/xml' } })
    t.equal(xml.statusCode, 415)
  })

  t.test('Redis unreachable: a clear 503 with Retry-After, in every format, and no crash', async t => {
    const port = await freePort() // nothing listens there
    const config = loadConfig({ SESSION_SECRET: SECRET, REPLICA_NAME: 'replica-test', LOG_LEVEL: 'silent', REDIS_URL: `redis://127.0.0.1:${port}` })
    const client = new Redis({ port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
    const app = await buildApp(config, { redis: client })
    t.teardown(async () => { await app.close(); client.disconnect() })
    const user = new User(app)
    const login = await user.post('/login', { username: 'dora' })
    t.equal(login.statusCode, 503)
    t.equal(login.headers['retry-after'], '1')
    t.equal(login.body, 'The session store is unavailable; please try again shortly\n')
    t.equal(login.headers['set-cookie'], undefined, 'no cookie for a session that was never stored')
    t.match((await user.post('/login', { username: 'dora' }, JSON_ACCEPT)).json(),
      { statusCode: 503, code: 'SESSION_STORE_UNAVAILABLE', servedBy: 'replica-test', requestId: String })
    t.equal((await app.inject('/health/ready')).statusCode, 503)
    t.equal((await app.inject('/health/live')).statusCode, 200)
  })

  t.test('Redis answers PING but refuses the session scripts: not ready, since no session can be served', async t => {
    const admin = new Redis(server.url)
    await admin.acl('SETUSER', 'no-scripts', 'on', '>no-scripts-password-of-some-length', '~*', '+@all', '-evalsha', '-eval')
    t.teardown(async () => { await admin.acl('DELUSER', 'no-scripts'); admin.disconnect() })
    const config = loadConfig({ SESSION_SECRET: SECRET, REPLICA_NAME: 'replica-test', LOG_LEVEL: 'silent', REDIS_URL: server.url })
    const client = new Redis(server.url, { username: 'no-scripts', password: 'no-scripts-password-of-some-length', maxRetriesPerRequest: 0 })
    const app = await buildApp(config, { redis: client })
    t.teardown(async () => { await app.close(); client.disconnect() })
    t.equal(await client.ping(), 'PONG', 'Redis answers PING')
    t.equal((await new User(app).post('/login', { username: 'dora' })).statusCode, 503, 'but a login gets a 503')
    t.equal((await app.inject('/health/ready')).statusCode, 503, 'so the replica does not call itself ready')
  })
})
