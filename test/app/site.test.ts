// The pages as one replica serves them (buildApp + inject, a real redis-server): the JSON answers the watch page
// reads, the stylesheet and script served as files and allowed by the Content-Security-Policy, /sessions in words
// a person reads, and the theme.
import type { LightMyRequestResponse } from 'fastify'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { pollUntil } from '../../harness/processes.ts'
import { RedisServer, withClient } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import { buildApp } from '../../services/app.ts'
import { loadConfig } from '../../services/config.ts'
import { TEXT } from '../../services/views.ts'

const REPLICA = 'replica-t'
const PUBLIC = join(PROJECT_ROOT, 'services', 'public')
/** What the store's visit script runs inside Redis (not round trips of their own). */
const SCRIPT_COMMANDS = new Set(['hgetall', 'hincrby', 'time', 'pexpireat', 'pexpire', 'hset', 'hmget', 'zadd'])
const CHROME_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

const dir = mkdtempSync(join(tmpdir(), 'app-pages-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const redis = await RedisServer.start({ dir, persistence: false })
t.teardown(async () => await redis.stop())
const app = await buildApp(loadConfig({ REDIS_URL: redis.url, REPLICA_NAME: REPLICA, LOGIN_RATE_LIMIT: '0' }), { logger: false })
t.teardown(async () => await app.close())

/** Logs in through the form; returns the Cookie header for the new session. */
async function login (username: string, userAgent = CHROME_ON_LINUX): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/login', payload: `username=${encodeURIComponent(username)}`, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent } })
  if (res.statusCode !== 302) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
  return String(res.headers['set-cookie']).split(';', 1)[0]!
}

async function get (url: string, cookie: string | undefined, accept: string, extra: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url, headers: { accept, ...(cookie ? { cookie } : {}), ...extra } })
}
const html = async (url: string, cookie?: string) => await get(url, cookie, 'text/html,application/xhtml+xml,*/*;q=0.8')

/**
 * Redis commands run while `fn` runs, by name: what a request costs Redis. A script's own commands are counted
 * too (HGETALL, HINCRBY… inside one EVALSHA): the round trips are the EVAL/EVALSHA and whatever else appears.
 */
async function redisCommands (fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const stats = async () => await withClient(redis.port, async r => {
    const counts: Record<string, number> = {}
    for (const match of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2])
    return counts
  })
  const before = await stats()
  await fn()
  const after = await stats()
  const delta: Record<string, number> = {}
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0)
    if (d > 0 && name !== 'info' && name !== 'hello') delta[name] = d // INFO and HELLO: this count's own
  }
  return delta
}

t.test('GET / for JSON clients: the visit, or the error, in one shape', async t => {
  const anonymous = await get('/', undefined, 'application/json', { 'x-request-id': 'req-anon' })
  t.equal(anonymous.statusCode, 401, 'not logged in: 401 for a JSON client (a browser still gets the 200 page)')
  t.match(anonymous.headers['content-type'], /^application\/json/)
  t.same(anonymous.json(), { statusCode: 401, code: 'NOT_LOGGED_IN', message: TEXT.notLoggedIn, servedBy: REPLICA, requestId: 'req-anon' })
  t.equal((await html('/')).statusCode, 200)

  const cookie = await login('alice')
  for (const visits of [1, 2, 3]) {
    const res = await get('/', cookie, 'application/json', { 'x-request-id': `req-${visits}` })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { user: 'alice', visits, servedBy: REPLICA, requestId: `req-${visits}` }, `visit ${visits}`)
  }
  t.equal((await get('/', cookie, '*/*')).body, `${TEXT.visits('alice', 4)}\n`, 'curl keeps plain text')
})

t.test('a visit asking for JSON costs Redis what a curl visit costs: one EVALSHA; an asset costs nothing', async t => {
  const cookie = await login('bob')
  await get('/', cookie, '*/*') // the script is loaded once (EVAL/SCRIPT LOAD) on first use: not the steady state
  const text = await redisCommands(async () => await get('/', cookie, '*/*'))
  const json = await redisCommands(async () => await get('/', cookie, 'application/json'))
  t.equal(text.evalsha, 1, 'curl: one EVALSHA')
  t.same(Object.keys(text).filter(name => !SCRIPT_COMMANDS.has(name)), ['evalsha'], 'and no other round trip')
  t.same(json, text, 'the watch page\'s request: the same')
  t.same(await redisCommands(async () => {
    for (const name of ['site.css', 'watch.js']) await get(`/assets/${name}`, cookie, '*/*')
  }), {}, 'the stylesheet and the script: no Redis at all (served outside the session scope)')
})

t.test('the stylesheet and script are files, served with their types and caching, and the CSP allows them', async t => {
  for (const [name, type] of [['site.css', /^text\/css/], ['watch.js', /^(text|application)\/javascript/]] as const) {
    const res = await get(`/assets/${name}`, undefined, '*/*')
    t.equal(res.statusCode, 200, name)
    t.match(res.headers['content-type'], type, `${name}: ${res.headers['content-type']}`)
    t.equal(res.body, readFileSync(join(PUBLIC, name), 'utf8'), `${name}: the file as it is in services/public/`)
    t.match(res.headers['cache-control'], /max-age=3600/, `${name}: cached for an hour`)
    t.equal(res.headers['x-served-by'], REPLICA)
    const again = await get(`/assets/${name}`, undefined, '*/*', { 'if-none-match': String(res.headers.etag) })
    t.equal(again.statusCode, 304, `${name}: revalidated by ETag`)
  }
  t.equal((await get('/assets/nothing.js', undefined, 'text/html')).statusCode, 404)

  const cookie = await login('carol')
  for (const url of ['/', '/watch', '/sessions', '/preferences', '/login']) {
    const res = await html(url, cookie)
    const csp = String(res.headers['content-security-policy'])
    for (const directive of ["default-src 'none'", "style-src 'self'", "script-src 'self'", "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      t.ok(csp.split(';').includes(directive), `${url}: ${directive}`)
    }
    t.match(res.body, '<link rel="stylesheet" href="/assets/site.css">', `${url}: the stylesheet, as a file`)
    t.notMatch(res.body, /<style|\sstyle=|\son\w+=|<script>/i, `${url}: no inline style, handler or script`)
    t.match(res.body, `Served by <strong>${REPLICA}</strong>`, `${url}: names the replica`)
  }
})

t.test('the watch page: a script file, and without JavaScript it still says what it is', async t => {
  const anonymous = await html('/watch')
  t.equal(anonymous.statusCode, 401, 'for logged-in users')
  t.match(anonymous.body, '<a href="/login">')
  const cookie = await login('dave')
  t.match((await html('/', cookie)).body, '<a class="button primary" href="/watch">', 'linked from the home page')
  const page = (await html('/watch', cookie)).body
  t.match(page, '<script type="module" src="/assets/watch.js"></script>')
  t.match(page, /<noscript>[\s\S]*needs JavaScript[\s\S]*<a href="\/">/, 'without JavaScript: a link to /')
  t.match(page, /visits <a href="\/">\/<\/a> every 400 ms/, 'says what it does')
})

t.test('/sessions: "Chrome on Linux" and relative times, the exact values on hover', async t => {
  const cookie = await login('erin')
  const page = (await html('/sessions', cookie)).body
  t.match(page, `<span title="${CHROME_ON_LINUX}">Chrome on Linux</span>`, 'the device in words, the agent on hover')
  const times = [...page.matchAll(/<time datetime="([^"]+)" title="([^"]+)">([^<]+)<\/time>/g)]
  t.equal(times.length, 2, 'logged in, last seen')
  for (const [, datetime, title, words] of times) {
    t.ok(Math.abs(Date.parse(datetime!) - Date.now()) < 5000, `datetime ${datetime}`)
    t.match(title, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'the exact time')
    t.match(words, /^(now|\d+ seconds? ago)$/, `just logged in: "${words}"`)
  }
  t.notMatch(page, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z</, 'no raw ISO timestamp as text')
})

t.test('last seen keeps moving in a session\'s final idle window, where its expiry is capped by its deadline', async t => {
  // Idle 10 s, at most 11 s after login: from 1 s after login on, every visit falls in the final idle window.
  const short = await buildApp(loadConfig({ REDIS_URL: redis.url, REPLICA_NAME: REPLICA, LOGIN_RATE_LIMIT: '0', SESSION_IDLE_TTL: '10s', SESSION_MAX_AGE: '11s' }), { logger: false })
  t.teardown(async () => await short.close())
  const res = await short.inject({ method: 'POST', url: '/login', payload: 'username=frank', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  const cookie = String(res.headers['set-cookie']).split(';', 1)[0]!
  const redisNow = async () => await withClient(redis.port, async r => { const [s, us] = await r.time(); return Number(s) * 1000 + Math.floor(Number(us) / 1000) })
  const visit = async () => {
    t.equal((await short.inject({ url: '/', headers: { cookie } })).statusCode, 200)
    const list = await short.inject({ url: '/sessions', headers: { cookie, accept: 'application/json' } })
    return (JSON.parse(list.body) as { sessions: Array<{ createdAt: number, lastSeenAt: number, expiresAt: number }> }).sessions[0]!
  }
  const { createdAt, expiresAt } = await visit()
  const finalWindow = expiresAt - 10_000
  await pollUntil('the final idle window', async () => (await redisNow() > finalWindow ? true : undefined), scaled(5000))
  const first = await visit()
  await pollUntil('Redis\' clock to move on', async () => (await redisNow() > first.lastSeenAt + 200 ? true : undefined), scaled(5000))
  const visitedAt = await redisNow()
  const second = await visit()
  t.ok(first.lastSeenAt > finalWindow, `the first visit in the final window is seen: ${first.lastSeenAt - createdAt} ms after login`)
  t.ok(second.lastSeenAt >= visitedAt, `and the next one too: ${second.lastSeenAt - createdAt} ms after login (was ${first.lastSeenAt - createdAt})`)
})

t.test('a user agent in UTF-8 is shown as sent, not as mojibake', async t => {
  // Over a real socket: Node reads header bytes as Latin-1, which is where mojibake comes from.
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const agent = 'Mözilla/5.0 (Linux; 日本語) Navigateur/2.1'
  // Raw bytes on a socket: what a client sending UTF-8 puts on the wire.
  const body = 'username=frank'
  const head = `POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ${agent}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
  const answer = await new Promise<string>((resolve, reject) => {
    let data = ''
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from(head, 'utf8'))) // Connection: close ends it
    socket.on('data', chunk => { data += chunk.toString('latin1') })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  const cookie = /^set-cookie: ([^;]+)/im.exec(answer)?.[1]
  if (!cookie) throw new Error(`no session cookie in:\n${answer}`)
  const page = (await html('/sessions', cookie)).body
  t.match(page, `title="${agent}"`, 'the agent on hover, as sent')
  t.match(page, '>Mözilla on Linux<', 'its name, as sent')
  t.notMatch(page, /Ã|æ\u0097/, 'no mojibake')
})

t.test('preferences: linked, with a way home, and the dark theme changes every page', async t => {
  const cookie = await login('gina')
  t.match((await html('/', cookie)).body, '<a href="/preferences">', 'linked from the home page')
  let page = (await html('/preferences', cookie)).body
  t.match(page, '<a href="/">Home</a>', 'a way home')
  t.match(page, '<html lang="en" data-theme="light">')
  const saved = await app.inject({ method: 'POST', url: '/preferences', payload: 'theme=dark', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(saved.statusCode, 302)
  page = (await html('/preferences', cookie)).body
  t.match(page, '<option selected>dark</option>', 'the form shows the saved choice')
  for (const url of ['/', '/watch', '/sessions', '/preferences']) {
    t.match((await html(url, cookie)).body, '<html lang="en" data-theme="dark">', `${url}: dark`)
  }
  t.match(readFileSync(join(PUBLIC, 'site.css'), 'utf8'), /\[data-theme="dark"\]\s*\{[^}]*--bg:/, 'the stylesheet has the dark colours')
})

// Last: it stops the server.
t.test('GET / while Redis is down: a 503 in the same JSON shape', async t => {
  const cookie = await login('hal')
  await redis.stop()
  const started = Date.now()
  const res = await get('/', cookie, 'application/json', { 'x-request-id': 'req-down' })
  t.equal(res.statusCode, 503)
  t.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms`)
  t.equal(res.headers['retry-after'], '1')
  t.same(res.json(), {
    statusCode: 503,
    code: 'SESSION_STORE_UNAVAILABLE',
    message: 'The session store is unavailable; please try again shortly',
    servedBy: REPLICA,
    requestId: 'req-down'
  })
})
