// Bad input gets a clear error and loses nothing: tampered cookies, odd usernames, oversized headers and bodies,
// clients that trickle bytes, random requests; and the logs never hold what would let a reader take a session.
// Through nginx and 3 replicas on a real Redis.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import type { LocalStack } from '../../harness/local-stack.ts'
import { USERNAME_RULE } from '../../services/errors.ts'
import { TEXT } from '../../services/views.ts'
import { redisClient, startStack } from '../helpers/stack.ts'

const NOT_LOGGED_IN = `${TEXT.notLoggedIn}\n`

/** Every key in Redis is the store's: under its prefix, and never a pattern a client smuggled in. */
async function strayKeys (redis: Redis): Promise<string[]> {
  return (await redis.keys('*')).filter(key => !key.startsWith('sess:') || /[*?[\]]/.test(key))
}

/** Each replica still runs as the process it was, and answers. */
async function replicasUnharmed (t: Test, stack: LocalStack, pids: number[]): Promise<void> {
  t.same(stack.replicas.map(r => r.pid), pids, 'no replica restarted')
  for (const replica of stack.replicas) {
    t.equal((await fetch(`${replica.url}/health/ready`)).status, 200, `${replica.name} answers`)
  }
}

/** Opens a raw connection to nginx and writes part of a request; resolves when nginx closes it. */
function trickle (port: number, partial: string): { socket: Socket, closed: Promise<number> } {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1', () => socket.write(partial))
  socket.on('data', () => {})
  const closed = new Promise<number>((resolve, reject) => {
    socket.on('close', () => resolve(Date.now() - started))
    socket.on('error', reject)
  })
  return { socket, closed }
}

t.test('tampered, truncated, empty, duplicated, huge and random cookies: not logged in, nothing written, nothing lost', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(stack.url)
  await user.login('alice')
  t.equal(visitsOf((await user.get('/')).text), 1)
  const cookie = user.cookies.get('sid')!
  const [id = '', signature = ''] = decodeURIComponent(cookie).split('.')
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
  const keysBefore = await redis.dbsize()

  const cases: Record<string, string> = {
    'signature changed': `sid=${encodeURIComponent(`${id}.${flip(signature, 3)}`)}`,
    'id changed, signature kept': `sid=${encodeURIComponent(`${flip(id, 0)}.${signature}`)}`,
    'signature cut off': `sid=${id}`,
    'truncated by one character': `sid=${cookie.slice(0, -1)}`,
    empty: 'sid=',
    'a key pattern': 'sid=*',
    'a key pattern with the prefix': `sid=${encodeURIComponent('sess:*.x')}`,
    'a hash tag': `sid=${encodeURIComponent('{x}}.y')}`,
    'not URI-encoded properly': 'sid=%E0%A4%A',
    'another user\'s id with a signature of our own': `sid=${encodeURIComponent(`${id}.${randomBytes(32).toString('base64url')}`)}`,
    '7 KB of random characters': `sid=${randomBytes(5300).toString('base64url')}`,
    'five hundred cookies': Array.from({ length: 500 }, (_, i) => `c${i}=x`).join('; ')
  }
  for (const [name, header] of Object.entries(cases)) {
    for (const path of ['/', '/whoami', '/sessions']) {
      const res = await new Browser(stack.url).get(path, { headers: { cookie: header } })
      t.equal(res.status, path === '/' ? 200 : 401, `${name} on ${path}: status ${res.status}`)
      t.equal(res.text, NOT_LOGGED_IN, `${name} on ${path}: not logged in`)
      const handedOut = res.headers.getSetCookie().filter(c => !/^sid=;.*Max-Age=0;/.test(c))
      t.same(handedOut, [], `${name} on ${path}: no session cookie handed out (at most the bad one cleared)`)
    }
  }
  t.equal(await redis.dbsize(), keysBefore, 'no anonymous session written to Redis by any of them')
  t.same(await strayKeys(redis), [], 'no key outside the store\'s prefix')

  // Two sid cookies: the first whose signature holds counts, wherever it stands; the answer clears neither.
  const junkFirst = await new Browser(stack.url).get('/', { headers: { cookie: `sid=junk; sid=${cookie}` } })
  t.equal(visitsOf(junkFirst.text), 2, 'junk first, the real cookie second: logged in, counted (the first valid one counts)')
  t.same(junkFirst.headers.getSetCookie(), [], 'and the real cookie is not cleared')
  const realFirst = await new Browser(stack.url).get('/', { headers: { cookie: `sid=${cookie}; sid=junk` } })
  t.equal(visitsOf(realFirst.text), 3, 'the real cookie first: logged in, counted')

  t.equal(visitsOf((await user.get('/')).text), 4, 'the real session went on counting, untouched by the forgeries')
})

t.test('usernames: a clear 400 for what is not a name, and what users type is escaped wherever it is shown', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const keysBefore = await redis.dbsize()
  const refused = {
    empty: '',
    'a script tag': '<script>alert(1)</script>',
    'a quote': 'o"neil',
    '65 characters': 'a'.repeat(65),
    'a NUL': 'a\u0000b',
    'a newline': 'a\nb',
    'a bidi override': 'a\u202Eb',
    'a zero-width joiner': 'a\u200Db',
    'a leading space': ' alice',
    'two spaces': 'a  b'
  }
  for (const [name, username] of Object.entries(refused)) {
    const res = await new Browser(stack.url).post('/login', { username })
    t.equal(res.status, 400, `${name}: 400`)
    t.match(res.text, USERNAME_RULE, `${name}: the rule, in words`)
    t.notMatch(res.text, /<script/, `${name}: the input is not echoed`)
    t.same(res.headers.getSetCookie(), [], `${name}: no session`)
  }
  const noField = await new Browser(stack.url).post('/login', {})
  t.equal(noField.status, 400, 'no username field: 400')
  const json = await new Browser(stack.url).request('POST', '/login', {
    headers: { 'content-type': 'application/json' }, form: undefined
  })
  t.equal(json.status, 400, 'an empty JSON body: 400, not a crash')
  t.equal(await redis.dbsize(), keysBefore, 'no refused login wrote anything to Redis')

  // Names in other scripts are names; combining marks are normalised, so "é" is one user however it was typed.
  const composed = new Browser(stack.url)
  await composed.login('Zoë Ñandú-李')
  t.equal((await composed.get('/whoami')).text, `${TEXT.loggedInAs('Zoë Ñandú-李')}\n`)
  const decomposed = new Browser(stack.url)
  await decomposed.login('Zoe\u0308 N\u0303andu\u0301-李')
  t.equal((await decomposed.get('/whoami')).text, `${TEXT.loggedInAs('Zoë Ñandú-李')}\n`, 'decomposed input: the same name')
  t.match((await decomposed.get('/sessions')).text, /^Sessions of Zoë Ñandú-李: 2/, 'and the same user: both sessions listed')

  // The user agent is the other string a client chooses that a page shows back (on /sessions).
  const hostileAgent = '<script>alert(document.cookie)</script>"><img src=x onerror=alert(1)>'
  const browser = new Browser(stack.url, { 'user-agent': hostileAgent, accept: 'text/html' })
  await browser.login('agent')
  const page = await browser.get('/sessions')
  t.equal(page.status, 200)
  t.notMatch(page.text, /<script|<img/, 'no markup from the user agent reaches the page')
  t.match(page.text, '&lt;script&gt;alert(document.cookie)&lt;/script&gt;&quot;&gt;&lt;img', 'it is shown, escaped')
})

t.test('oversized headers and bodies are refused with a 4xx by nginx or the replica, and break nothing', async t => {
  const stack = await startStack(t)
  const pids = stack.replicas.map(r => r.pid)
  const user = new Browser(stack.url)
  await user.login('bob')

  const bigCookie = await user.get('/', { headers: { cookie: `sid=${'a'.repeat(9000)}` } })
  t.equal(bigCookie.status, 400, 'a 9 KB cookie line: nginx answers 400 (over its 8 KB header line limit)')
  t.match(bigCookie.text, /Request Header Or Cookie Too Large/)
  t.equal(bigCookie.servedBy, 'nginx', 'and says that nginx answered, not a replica')
  const manyHeaders: Record<string, string> = {}
  for (let i = 0; i < 6; i++) manyHeaders[`x-filler-${i}`] = 'f'.repeat(7000)
  t.equal((await user.get('/', { headers: manyHeaders })).status, 400, '42 KB of headers: 400 (over nginx\'s 4 × 8 KB)')

  // Straight at a replica (as if nginx were misconfigured), Node's own limit (16 KB of headers) still holds.
  const direct = await fetch(`${stack.replicas[0]!.url}/`, { headers: { 'x-filler': 'f'.repeat(20_000) } })
  t.equal(direct.status, 431, 'a replica answers 431 to 20 KB of headers')
  t.equal(direct.headers.get('x-served-by'), 'replica-1', 'and names itself, as every replica answer does')

  const bigBody = { username: 'x'.repeat(20_000) }
  const viaNginx = await new Browser(stack.url).post('/login', bigBody)
  t.equal(viaNginx.status, 413, 'a 20 KB form: nginx answers 413')
  t.equal(viaNginx.servedBy, 'nginx')
  const atReplica = await new Browser(stack.replicas[1]!.url).post('/login', bigBody)
  t.equal(atReplica.status, 413, 'a replica answers 413 to it as well')
  t.match(atReplica.text, /Request body is too large/, 'with a message that says so')
  t.equal(atReplica.servedBy, 'replica-2')

  const xml = await new Browser(stack.url).request('POST', '/login', { headers: { 'content-type': 'application/xml' } })
  t.equal(xml.status, 415, 'a body type the site does not take: 415')

  t.equal(visitsOf((await user.get('/')).text), 1, 'the user is still logged in, the count intact')
  await replicasUnharmed(t, stack, pids)
})

t.test('clients that trickle a request are cut off by nginx and never tie up a replica', async t => {
  const stack = await startStack(t)
  const port = Number(new URL(stack.url).port)
  const pids = stack.replicas.map(r => r.pid)
  // 20 slow-header and 20 slow-body connections: nginx holds them (the replicas never see a byte), and drops each
  // after its 10 s client_header_timeout / client_body_timeout.
  const slow = [
    ...Array.from({ length: 20 }, () => trickle(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')),
    ...Array.from({ length: 20 }, () => trickle(port,
      'POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=sl'))
  ]
  t.teardown(() => { for (const { socket } of slow) socket.destroy() })

  const user = new Browser(stack.url)
  await user.login('carol')
  for (let visit = 1; visit <= 30; visit++) {
    t.equal(visitsOf((await user.get('/')).text), visit, `visit ${visit} served while 40 slow clients hang on`)
  }
  const deadline = AbortSignal.timeout(20_000)
  const times = await Promise.race([
    Promise.all(slow.map(async ({ closed }) => await closed)),
    new Promise<never>((_resolve, reject) => deadline.addEventListener('abort', () => reject(new Error('nginx did not close the slow connections within 20 s'))))
  ])
  t.ok(times.every(ms => ms >= 9_000 && ms < 15_000), `every slow connection closed by nginx after 10 s (${Math.min(...times)}-${Math.max(...times)} ms)`)
  await replicasUnharmed(t, stack, pids)
})

// Random requests: odd methods, paths, cookies (forged, mutated from a real one), bodies and content types.
t.test('2,000 random requests: never a 5xx, no replica hurt, nothing outside the store in Redis, a bystander unharmed', async t => {
  const stack = await startStack(t)
  const redis = redisClient(t, stack.redisUrl)
  const pids = stack.replicas.map(r => r.pid)
  const bystander = new Browser(stack.url)
  await bystander.login('bystander')
  t.equal(visitsOf((await bystander.get('/')).text), 1)
  const victim = new Browser(stack.url)
  await victim.login('victim')
  const real = decodeURIComponent(victim.cookies.get('sid')!)

  const ascii = (min: number, max: number, maxLength: number) =>
    fc.string({ unit: fc.integer({ min, max }).map(c => String.fromCharCode(c)), maxLength })
  const printable = (maxLength: number) => ascii(0x20, 0x7e, maxLength)
  const mutated = fc.tuple(fc.nat({ max: real.length - 1 }), printable(3), fc.boolean()).map(([at, insert, cut]) =>
    real.slice(0, at) + insert + (cut ? '' : real.slice(at + 1)))
    .filter(value => value !== real)
  const cookie = fc.oneof(
    mutated.map(value => `sid=${encodeURIComponent(value)}`),
    printable(200).map(value => `sid=${value}`),
    fc.tuple(printable(50), printable(50)).map(([a, b]) => `sid=${a}; sid=${b}`),
    printable(300)
  )
  const path = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('/', '/whoami', '/login', '/logout', '/sessions', '/sessions/revoke-all', '/preferences', '/health/ready') },
    fc.tuple(fc.constantFrom('/sessions/', '/', '/login/'), fc.string({ maxLength: 40 }), fc.constantFrom('', '/revoke'))
      .map(([head, tail, end]) => head + encodeURIComponent(tail) + end),
    fc.tuple(fc.constantFrom('/', '/login', '/preferences'), printable(40)).map(([p, q]) => `${p}?${encodeURIComponent(q)}`)
  )
  const body = fc.oneof(
    fc.constant(undefined),
    fc.record({ username: fc.string({ unit: 'binary', maxLength: 80 }) }).map(form => ({ type: 'application/x-www-form-urlencoded', text: new URLSearchParams(form).toString() })),
    fc.dictionary(printable(10), fc.string({ maxLength: 30 }), { maxKeys: 4 }).map(form => ({ type: 'application/x-www-form-urlencoded', text: new URLSearchParams(form).toString() })),
    fc.jsonValue({ maxDepth: 3 }).map(value => ({ type: 'application/json', text: JSON.stringify(value) ?? 'null' })),
    fc.tuple(fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data'), fc.string({ unit: 'binary', maxLength: 200 }))
      .map(([type, text]) => ({ type, text }))
  )
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
    path,
    cookie: fc.option(cookie),
    accept: fc.constantFrom('text/html', '*/*', 'text/plain', ''),
    fetchSite: fc.option(fc.constantFrom('same-origin', 'none', 'cross-site', 'same-site'), { freq: 2 }),
    body
  })

  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(request, async ({ method, path, cookie, accept, fetchSite, body }) => {
    const headers: Record<string, string> = {}
    if (cookie !== null) headers.cookie = cookie
    if (accept) headers.accept = accept
    if (fetchSite !== null) headers['sec-fetch-site'] = fetchSite
    const withBody = body !== undefined && method !== 'GET' && method !== 'HEAD'
    if (withBody) headers['content-type'] = body.type
    const res = await fetch(stack.url + path, {
      method, headers, body: withBody ? body.text : undefined, redirect: 'manual', signal: AbortSignal.timeout(5000)
    })
    await res.arrayBuffer()
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    return res.status < 500
  }), { numRuns: 2000, interruptAfterTimeLimit: 240_000, markInterruptAsFailure: true })
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`)
  t.pass('2,000 random requests, none answered with a 5xx')

  await replicasUnharmed(t, stack, pids)
  t.same(await strayKeys(redis), [], 'every key in Redis is under the store\'s prefix, none a pattern')
  t.equal(visitsOf((await bystander.get('/')).text), 2, 'the bystander\'s session went on untouched')
  t.equal((await victim.get('/whoami')).text, `${TEXT.loggedInAs('victim')}\n`, 'so did the session whose cookie was mangled 2,000 ways')
})

t.test('logs at info level hold no session id, cookie or secret, in any process', async t => {
  const lines: string[] = []
  const stack = await startStack(t, {
    env: { LOG_LEVEL: 'info' },
    onLine: (source, line) => { lines.push(`${source} | ${line}`) }
  })
  const ids = new Set<string>()
  const users = Array.from({ length: 3 }, () => new Browser(stack.url, { accept: 'text/html' }))
  for (const [i, user] of users.entries()) {
    await user.login(`user${i}`)
    ids.add(user.cookies.get('sid')!)
    for (let visit = 0; visit < 3; visit++) await user.get('/')
    await user.get('/sessions')
    await user.get('/nowhere')
  }
  // Paths that log at warn or error: a cross-site refusal, a refused login and a forged cookie.
  await users[0]!.post('/logout', {}, { headers: { 'sec-fetch-site': 'cross-site' } })
  await users[1]!.post('/login', { username: '<bad>' })
  await new Browser(stack.url).get('/', { headers: { cookie: `sid=${users[2]!.cookies.get('sid')!}x` } })
  await users[2]!.post('/logout')

  const replicaLines = lines.filter(line => line.startsWith('replica'))
  t.ok(replicaLines.length >= 22, `the replicas logged a line per request (${replicaLines.length} lines): there was something to leak`)
  t.ok(replicaLines.some(line => line.includes('"reqId"')), 'lines carry the request id')
  const secrets = [stack.secret, ...[...ids].flatMap(cookie => {
    const value = decodeURIComponent(cookie)
    return [value, value.split('.')[0]!, value.split('.')[1]!]
  })]
  for (const secret of secrets) {
    const leaks = lines.filter(line => line.includes(secret))
    t.same(leaks, [], `no line holds ${secret.slice(0, 6)}… (${secret.length} characters)`)
  }
})
