// Each defence, tested with the attack it stops: through nginx and 3 replicas, on a real Redis.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { loginRequestKey, sessionHandle, sessionKey } from '../../services/session-store/keys.ts'
import { redisClient, startStack } from '../helpers/stack.ts'
import { TEXT } from '../../services/views.ts'

const NOT_LOGGED_IN = `${TEXT.notLoggedIn}\n`
const sessionIdOf = (cookie: string) => decodeURIComponent(cookie).split('.')[0]!

t.test('requests from another site cannot log in, log out or end sessions', async t => {
  const stack = await startStack(t)
  const victim = new Browser(stack.url)
  await victim.login('victim') // curl-like: no Origin, no Sec-Fetch-Site
  const crossSite = { 'sec-fetch-site': 'cross-site' }

  const forcedLogin = await new Browser(stack.url).post('/login', { username: 'attacker' }, { headers: crossSite })
  t.equal(forcedLogin.status, 403, 'login CSRF: a cross-site login form is refused')
  t.equal(forcedLogin.text, 'Cross-site request refused\n')
  t.same(forcedLogin.headers.getSetCookie(), [], 'and no session cookie is set')
  const oldBrowser = await new Browser(stack.url).post('/login', { username: 'attacker' }, { headers: { origin: 'https://evil.example' } })
  t.equal(oldBrowser.status, 403, 'a foreign Origin alone (older browsers) is refused too')
  const sibling = await new Browser(stack.url).post('/login', { username: 'x' }, { headers: { 'sec-fetch-site': 'same-site' } })
  t.equal(sibling.status, 403, 'a sibling subdomain is another site')

  for (const path of ['/logout', '/sessions/revoke-all']) {
    t.equal((await victim.post(path, {}, { headers: crossSite })).status, 403, `cross-site POST ${path} refused`)
    t.equal((await victim.get('/whoami')).text, `${TEXT.loggedInAs('victim')}\n`, 'the victim is still logged in')
  }

  const ownForm = await new Browser(stack.url).post('/login', { username: 'self' }, {
    headers: { 'sec-fetch-site': 'same-origin', origin: stack.url }
  })
  t.equal(ownForm.status, 302, 'the site\'s own form works')
  const ownOrigin = await new Browser(stack.url).post('/login', { username: 'self' }, { headers: { origin: stack.url } })
  t.equal(ownOrigin.status, 302, 'so does its own Origin without Sec-Fetch-Site (nginx passes the port on)')
})

t.test('session fixation: an id planted before login is worthless after it', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const attacker = new Browser(stack.url)
  await attacker.login('mallory')
  const planted = attacker.cookies.get('sid')!

  const victim = new Browser(stack.url)
  victim.cookies.set('sid', planted)
  await victim.login('victim')
  t.not(victim.cookies.get('sid'), planted, 'the victim got a new id at login')
  for (let i = 0; i < 3; i++) {
    const res = await attacker.get('/')
    t.equal(res.text, NOT_LOGGED_IN, `the planted id is not the victim's session (${res.servedBy})`)
  }
  t.equal(await redis.exists(sessionKey('sess:', sessionIdOf(planted))), 0, 'and its session is gone from Redis')
  t.equal((await victim.get('/whoami')).text, `${TEXT.loggedInAs('victim')}\n`)
})

t.test('a stolen cookie gets nothing after logout, revoke, idle expiry or absolute expiry, on any replica', async t => {
  const stack = await startStack(t, { env: { SESSION_IDLE_TTL: '1500ms', SESSION_MAX_AGE: '3s' } })
  const redis = redisClient(t, stack.redisUrl)
  const steal = (user: Browser) => new Browser(stack.url, {}, new Map(user.cookies))
  const worthless = async (thief: Browser, after: string) => {
    for (let i = 0; i < 3; i++) {
      const res = await thief.get('/')
      t.equal(res.text, NOT_LOGGED_IN, `after ${after}: nothing on ${res.servedBy}`)
    }
  }

  const loggedOut = new Browser(stack.url)
  await loggedOut.login('logout')
  const thief1 = steal(loggedOut)
  await loggedOut.post('/logout')
  await worthless(thief1, 'logout')

  const laptop = new Browser(stack.url)
  const phone = new Browser(stack.url)
  await laptop.login('revoke')
  await phone.login('revoke')
  const thief2 = steal(phone)
  const handle = sessionHandle(sessionIdOf(phone.cookies.get('sid')!))
  t.equal((await laptop.post(`/sessions/${handle}/revoke`)).status, 302, 'the laptop ends the phone\'s session')
  await worthless(thief2, 'revoke')
  t.equal((await laptop.get('/whoami')).text, `${TEXT.loggedInAs('revoke')}\n`, 'the laptop stays logged in')

  const idle = new Browser(stack.url)
  await idle.login('idle')
  const thief3 = steal(idle)
  const key = sessionKey('sess:', sessionIdOf(idle.cookies.get('sid')!))
  await pollUntil('the idle session to expire in Redis', async () => (await redis.exists(key)) === 0 ? true : undefined, scaled(5000))
  await worthless(thief3, 'idle expiry')

  const busy = new Browser(stack.url)
  const loginAt = Date.now()
  await busy.login('busy')
  const thief4 = steal(busy)
  // The thief keeps the session busy: activity never extends the absolute lifetime.
  const endedAt = await pollUntil('the absolute lifetime to end the session', async () =>
    (await thief4.get('/')).text === NOT_LOGGED_IN ? Date.now() : undefined, scaled(6000), 200)
  t.ok(endedAt - loginAt >= 3000 && endedAt - loginAt < 4500, `ended ${endedAt - loginAt} ms after login (SESSION_MAX_AGE 3 s)`)
  await worthless(thief4, 'absolute expiry')
})

t.test('security headers on every answer, and a Content-Security-Policy the pages pass', async t => {
  const stack = await startStack(t)
  const user = new Browser(stack.url, { accept: 'text/html' })
  await user.login('headers')
  for (const path of ['/', '/sessions', '/login', '/nowhere']) {
    const res = await user.get(path)
    const csp = res.headers.get('content-security-policy') ?? ''
    t.match(csp, /default-src 'none'/, `${path}: nothing is allowed unless listed`)
    t.match(csp, /frame-ancestors 'none'/, `${path}: no framing (clickjacking)`)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff')
    t.ok(res.headers.get('referrer-policy'))
    // What the page needs is what the policy allows: the site's own stylesheet and script files, nothing inline.
    t.match(csp, /style-src 'self'(;|$)/, `${path}: stylesheets from this site only`)
    t.match(csp, /script-src 'self'(;|$)/, `${path}: scripts from this site only`)
    t.match(res.text, '<link rel="stylesheet" href="/assets/site.css">')
    t.notMatch(res.text, /<style|<script>|\sstyle=|\son\w+=/i, `${path}: no inline style, script or handler`)
    for (const action of res.text.matchAll(/action="([^"]*)"/g)) t.match(action[1], /^\//, `${path}: forms post to this site`)
  }
})

t.test('the login rate limit holds across replicas, answers 429 with Retry-After, and cannot be dodged', async t => {
  const stack = await startStack(t, { env: { LOGIN_RATE_LIMIT: '3' } })
  const servedBy = new Set<string | null>()
  for (let i = 0; i < 3; i++) {
    const res = await new Browser(stack.url).post('/login', { username: `try-${i}` })
    t.equal(res.status, 302, `login ${i + 1} of 3 allowed`)
    servedBy.add(res.servedBy)
  }
  t.equal(servedBy.size, 3, 'the three logins went to three replicas')
  const limited = await new Browser(stack.url).post('/login', { username: 'try-4' })
  t.equal(limited.status, 429, 'the fourth in a minute is refused, whichever replica gets it')
  t.ok(Number(limited.headers.get('retry-after')) > 0, `Retry-After: ${limited.headers.get('retry-after')}`)
  t.match(limited.text, /Rate limit exceeded/)
  const forged = await new Browser(stack.url).post('/login', { username: 'try-5' }, { headers: { 'x-forwarded-for': '203.0.113.9' } })
  t.equal(forged.status, 429, 'a forged X-Forwarded-For does not buy a fresh limit (nginx states the address)')
  const user = new Browser(stack.url)
  t.equal((await user.get('/')).status, 200, 'pages other than login are not limited')
})

t.test('secret rotation: two replicas on the old list and one on the new, and nobody is logged out', async t => {
  const [A, B] = [randomBytes(48).toString('base64url'), randomBytes(48).toString('base64url')]
  const stack = await startStack(t, { env: { SESSION_SECRET: A } })
  const user = new Browser(stack.url)
  await user.login('rotating')
  const signedWithA = user.cookies.get('sid')!
  let visits = 0
  // One visit on every replica, straight to each: every one must know the user, the count going on.
  const visitEach = async (stage: string) => {
    for (const replica of stack.replicas) {
      const res = await user.at(replica.url).get('/')
      t.equal(visitsOf(res.text), ++visits, `${stage}: logged in on ${replica.name}`)
    }
  }
  const deploy = async (replicaIndexes: number[], secrets: string) => {
    for (const i of replicaIndexes) await stack.replicas[i]!.restart({ SESSION_SECRET: secrets })
  }
  await visitEach('before')

  // Step 1: the new secret is accepted everywhere before it signs anything.
  await deploy([0, 1, 2], `${A},${B}`)
  await visitEach('B accepted')

  // Step 2, midway: replica-1 signs with B, the two others still with A.
  await deploy([0], `${B},${A}`)
  const resigned = await user.at(stack.replicas[0]!.url).get('/')
  t.equal(visitsOf(resigned.text), ++visits, 'a cookie signed with the older secret still works')
  t.not(user.cookies.get('sid'), signedWithA, 'and comes back re-signed with the new one, not cleared')
  t.equal(sessionIdOf(user.cookies.get('sid')!), sessionIdOf(signedWithA), 'same session')
  await visitEach('midway')
  await deploy([1, 2], `${B},${A}`)
  await visitEach('B signs')

  // Step 3: the old secret retired; the cookie the user holds now was re-signed with B along the way.
  await deploy([0, 1, 2], B)
  await visitEach('A retired')
  const stale = await new Browser(stack.url, {}, new Map([['sid', signedWithA]])).get('/')
  t.equal(stale.status, 200)
  t.equal(stale.text, NOT_LOGGED_IN, 'a cookie signed only with the retired secret is refused, not an error')
})

t.test('the cookie: long random ids, HttpOnly, SameSite=Lax, Secure only when HTTPS, __Host- when HTTPS only', async t => {
  const stack = await startStack(t, { replicas: 1 })
  const ids = new Set<string>()
  for (let i = 0; i < 5; i++) {
    const user = new Browser(stack.url)
    const res = await user.login(`cookie-${i}`)
    const [setCookie] = res.headers.getSetCookie()
    t.match(setCookie, /^sid=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/, 'plain HTTP: no Secure flag')
    ids.add(sessionIdOf(user.cookies.get('sid')!))
  }
  t.equal(ids.size, 5)
  t.ok([...ids].every(id => Buffer.from(id, 'base64url').length >= 16), 'ids carry at least 128 random bits')

  const forged = await new Browser(stack.url).post('/login', { username: 'x' }, { headers: { 'x-forwarded-proto': 'https' } })
  t.notMatch(forged.headers.getSetCookie()[0], /Secure/, 'only nginx says whether the user came over HTTPS')
  const direct = stack.replicas[0]!
  const https = await new Browser(direct.url).post('/login', { username: 'x' }, { headers: { 'x-forwarded-proto': 'https' } })
  t.match(https.headers.getSetCookie()[0], /; Secure/, 'HTTPS as the trusted balancer says: Secure')

  await direct.restart({ HTTPS_ONLY: '1' })
  const hostOnly = await new Browser(direct.url).post('/login', { username: 'x' }, { headers: { 'x-forwarded-proto': 'https' } })
  const [cookie] = hostOnly.headers.getSetCookie()
  t.match(cookie, /^__Host-sid=/, 'HTTPS_ONLY: the __Host- prefix')
  t.match(cookie, /; Path=\//)
  t.match(cookie, /; Secure/)
  t.notMatch(cookie, /Domain=/i, '__Host- cookies have no Domain')
})

t.test('a login\'s request id replayed straight to a replica: no way into the user\'s session, nor back into an ended one', async t => {
  const stack = await startStack(t)
  const direct = stack.replicas[0]!.url
  // What anyone who can read an access log, or reach a replica's port, has: the request id and the name.
  const replay = async (res: { headers: Headers }, username: string) => {
    const attacker = new Browser(direct)
    const answer = await attacker.post('/login', { username }, { headers: { 'x-request-id': res.headers.get('x-request-id')! } })
    return { attacker, answer }
  }

  const victim = new Browser(stack.url)
  const login = await victim.login('victim')
  t.match(login.headers.get('x-request-id'), /^[0-9a-f]{32}$/, 'nginx\'s request id, as logged')
  const { attacker, answer } = await replay(login, 'victim')
  t.equal(answer.status, 302, 'within seconds of the login: an ordinary login by name (this demo has no passwords)')
  t.not(sessionIdOf(attacker.cookies.get('sid')!), sessionIdOf(victim.cookies.get('sid')!), 'but a session of its own, not the victim\'s')
  t.equal(visitsOf((await victim.get('/')).text), 1, 'the victim\'s count is the victim\'s alone')

  const other = await replay(login, 'mallory')
  t.equal(other.answer.status, 302, 'under another name: no 503, that name\'s own session')
  t.equal((await other.attacker.get('/whoami')).text, `${TEXT.loggedInAs('mallory')}\n`)

  const leaver = new Browser(stack.url)
  const leaverLogin = await leaver.login('leaver')
  // The cookie as a thief kept it (a jar would drop it when the site clears it).
  const stolen = new Browser(stack.url, { cookie: `sid=${leaver.cookies.get('sid')!}` })
  await leaver.post('/logout')
  t.equal((await stolen.get('/')).text, NOT_LOGGED_IN, 'logged out')
  await replay(leaverLogin, 'leaver')
  for (let i = 0; i < 3; i++) {
    const res = await stolen.get('/')
    t.equal(res.text, NOT_LOGGED_IN, `the replay did not bring the ended session back (${res.servedBy})`)
  }
})

t.test('a login whose replica hangs after recording it: nginx\'s retry on another replica gets that same session', async t => {
  // A 2 s command timeout leaves the login's writes a 1.8 s window, time to hang its replica in between.
  const stack = await startStack(t, { env: { REDIS_COMMAND_TIMEOUT: '2s' } })
  const redis = redisClient(t, stack.redisUrl)
  const browser = new Browser(stack.url)
  // Redis holds the login's first write (its request-id record) until the replica that sent it is hung.
  await redis.client('PAUSE', scaled(10_000), 'WRITE')
  t.teardown(async () => { await redis.client('UNPAUSE') })
  const pending = browser.post('/login', { username: 'gina' })
  const name = await pollUntil('the login to reach Redis', async () =>
    /name=(replica-\d) .*flags=b /.exec(await redis.client('LIST') as string)?.[1])
  const hung = stack.replica(name)
  hung.pause()
  t.teardown(() => hung.resume())
  await redis.client('UNPAUSE')
  const res = await pending
  t.equal(res.status, 302, 'the login succeeded')
  t.not(res.servedBy, name, `on another replica than the hung ${name}`)
  const recorded = await redis.get(loginRequestKey('sess:', res.headers.get('x-request-id')!))
  t.equal(recorded?.split(' ')[0], sessionIdOf(browser.cookies.get('sid')!), 'with the session the hung replica had recorded')
  hung.resume()
  t.match((await browser.get('/sessions')).text, /^Sessions of gina: 1\n/, 'one session, the one the browser has')
  t.equal((await browser.get('/whoami')).text, `${TEXT.loggedInAs('gina')}\n`)
})
