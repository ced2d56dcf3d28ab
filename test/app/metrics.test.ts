// The replica's metrics, read from its own registry after requests through inject, on a real redis-server:
// what each counter says after the events it counts, and that no label carries a URL, a user or a session id.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { freePort } from '../../harness/ports.ts'
import { pollUntil } from '../../harness/processes.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { buildApp } from '../../services/app.ts'
import { loadConfig } from '../../services/config.ts'

const redisServer = await (async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await RedisServer.start({ dir, persistence: false })
  t.teardown(async () => { await server.stop() })
  return server
})()

async function appWith (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ REDIS_URL: redisServer.url, REPLICA_NAME: 'replica-t', LOGIN_RATE_LIMIT: '0', ...env })
  // The app's own connection (not handed in), so that the Redis gauge follows a real client's state.
  const app = await buildApp(config, { logger: false })
  t.teardown(async () => { await app.close() })
  return app
}

/** A series' value in the app's registry: the one whose labels include `labels` (0 when there is none yet). */
async function valueOf (app: FastifyInstance, name: string, labels: Record<string, string | number> = {}): Promise<number> {
  const registry = app.metrics!.registry
  const family = name.replace(/_(bucket|sum|count)$/, '')
  const metric = registry.getSingleMetric(family) ?? registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  const found = values.find(v => ((v as { metricName?: string }).metricName ?? name) === name &&
    Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === String(want)))
  return found?.value ?? 0
}

const cookieOf = (res: { headers: Record<string, unknown> }): string => {
  const raw = res.headers['set-cookie']
  const first = Array.isArray(raw) ? raw[0] : raw
  return String(first).split(';')[0]!
}

t.test('requests are counted and timed by route pattern; unmatched URLs share one label value', async t => {
  const app = await appWith(t)
  for (let i = 0; i < 3; i++) t.equal((await app.inject('/health/live')).statusCode, 200)
  t.equal((await app.inject('/nowhere/123?user=alice')).statusCode, 404)
  t.equal((await app.inject('/nowhere/456')).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/sessions/abcdefghijklmnop/revoke' })).statusCode, 401)

  t.equal(await valueOf(app, 'http_request_duration_seconds_count', { route: '/health/live', method: 'GET', status_code: 200 }), 3, 'counted by the histogram')
  t.ok(await valueOf(app, 'http_request_duration_seconds_bucket', { route: '/health/live', le: 3 }) === 3, 'all under 3 s')
  t.equal(await valueOf(app, 'http_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status_code: 404 }), 2, 'both 404s on one series')
  t.equal(await valueOf(app, 'http_request_duration_seconds_count', { route: '/sessions/:handle/revoke', status_code: 401 }), 1, 'the pattern, not the handle')

  const text = await app.metrics!.registry.metrics()
  t.notMatch(text, /nowhere|abcdefghijklmnop|alice/, 'no raw URL in the exposition')
  t.match(text, /http_request_duration_seconds_count\{replica="replica-t",route="\/health\/live",method="GET",status_code="200"\} 3/,
    'each series names its replica')
  t.match(text, /^process_cpu_user_seconds_total/m, 'prom-client\'s process metrics')
  t.match(text, /^nodejs_eventloop_lag_seconds/m, 'and Node\'s')
})

t.test('logins, logouts, revocations and store round trips are counted; no user name or session id appears', async t => {
  const app = await appWith(t)
  const user = 'metrics-alice-7f3'
  const login = async () => {
    const res = await app.inject({ method: 'POST', url: '/login', payload: { username: user } })
    t.equal(res.statusCode, 302)
    return cookieOf(res)
  }
  const first = await login()
  const second = await login()
  const third = await login()
  t.equal(await valueOf(app, 'logins_total'), 3)
  t.equal(await valueOf(app, 'session_store_operation_duration_seconds_count', { operation: 'create', outcome: 'ok' }), 3)

  t.match((await app.inject({ url: '/', headers: { cookie: first } })).body, /Visits: 1/)
  t.equal(await valueOf(app, 'session_store_operation_duration_seconds_count', { operation: 'load', outcome: 'ok' }), 1)

  const list = await app.inject({ url: '/sessions', headers: { cookie: first, accept: 'application/json' } })
  const handles = (JSON.parse(list.body) as { sessions: Array<{ handle: string, current: boolean }> }).sessions
  const other = handles.find(s => !s.current)!
  t.equal((await app.inject({ method: 'POST', url: `/sessions/${other.handle}/revoke`, headers: { cookie: first } })).statusCode, 302)
  t.equal(await valueOf(app, 'session_revocations_total', { scope: 'one' }), 1)

  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: { cookie: third } })).statusCode, 302)
  t.equal(await valueOf(app, 'logouts_total'), 1)
  t.equal((await app.inject({ method: 'POST', url: '/logout' })).statusCode, 302)
  t.equal(await valueOf(app, 'logouts_total'), 1, 'a logout without a session ends none and is not counted')

  t.equal((await app.inject({ method: 'POST', url: '/sessions/revoke-all', headers: { cookie: first } })).statusCode, 302)
  t.equal(await valueOf(app, 'session_revocations_total', { scope: 'all' }), 1, 'log out everywhere: the one session left')

  const text = await app.metrics!.registry.metrics()
  t.notMatch(text, new RegExp(user), 'no user name in the exposition')
  for (const cookie of [first, second, third]) {
    const id = decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!
    t.notOk(text.includes(id), 'no session id in the exposition')
  }
})

t.test('cross-site refusals and rate-limited logins are counted', async t => {
  const app = await appWith(t, { LOGIN_RATE_LIMIT: '2' })
  const crossSite = await app.inject({ method: 'POST', url: '/login', payload: { username: 'x' }, headers: { 'sec-fetch-site': 'cross-site' } })
  t.equal(crossSite.statusCode, 403)
  t.equal(await valueOf(app, 'cross_site_refusals_total'), 1)

  const from = { remoteAddress: '127.0.0.9' }
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await app.inject({ method: 'POST', url: '/login', payload: { username: 'y' }, ...from })).statusCode)
  t.same(statuses, [302, 302, 429])
  t.equal(await valueOf(app, 'logins_rate_limited_total'), 1)
  t.equal(await valueOf(app, 'logins_total'), 2)
})

t.test('a dropped Redis connection: the load counted as a store error, a reconnect counted, the gauge at 1 again', async t => {
  const app = await appWith(t)
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'outage' } })
  const cookie = cookieOf(res)
  t.equal(await valueOf(app, 'redis_connection_ready'), 1)
  t.equal(await valueOf(app, 'redis_reconnects_total'), 0)

  // Cut the app's connection from the server's side; it reconnects within ~100 ms (services/redis.ts).
  const admin = new Redis(redisServer.url)
  t.teardown(() => admin.disconnect())
  await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  const down = await app.inject({ url: '/', headers: { cookie } })
  t.equal(down.statusCode, 503, 'the user gets the clear 503')
  t.ok(await valueOf(app, 'session_store_operation_duration_seconds_count', { operation: 'load', outcome: 'error' }) >= 1, 'counted as a store error')

  await pollUntil('the reconnect', async () => await valueOf(app, 'redis_reconnects_total') === 1 || undefined, 5000, 20)
  t.pass('one reconnect counted')
  t.equal(await valueOf(app, 'redis_connection_ready'), 1, 'the gauge at 1')
  t.equal((await app.inject({ url: '/', headers: { cookie } })).statusCode, 200)
})

t.test('/metrics is served on METRICS_PORT only, never by the public app; METRICS_PORT=0 turns it all off', async t => {
  const port = await freePort()
  const app = await appWith(t, { METRICS_PORT: String(port), HOST: '127.0.0.1' })
  t.equal((await app.inject('/metrics')).statusCode, 404, 'the public app has no /metrics')
  t.equal(await app.listenMetrics(), `http://127.0.0.1:${port}/metrics`)
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  t.match(await res.text(), /# TYPE http_request_duration_seconds histogram/)
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404)

  const off = await appWith(t, { METRICS_PORT: '0' })
  t.equal(off.metrics, null)
  t.equal(await off.listenMetrics(), null)
  t.equal((await off.inject('/health/live')).statusCode, 200)
  t.equal((await off.inject({ method: 'POST', url: '/login', payload: { username: 'z' } })).statusCode, 302, 'and everything works without')
})
