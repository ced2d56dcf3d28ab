// Failure under load, on the real topology: replicas killed, hung and restarted, Redis stopped and crashed.
// What a user must never see: a failed GET, a lost session, a visit count that goes back.
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { Nginx } from '../../harness/nginx.ts'
import { freePort } from '../../harness/ports.ts'
import { pollUntil } from '../../harness/processes.ts'
import { probe } from '../../harness/replicas.ts'
import { scaled } from '../../harness/timeouts.ts'
import { startStack } from '../helpers/stack.ts'
import { TEXT } from '../../services/views.ts'
import { AccessLog, UserLoad } from '../helpers/load.ts'
import { commentEngine } from '../helpers/engine.ts'

const addressOf = (replica: { port: number }) => `127.0.0.1:${replica.port}`

commentEngine(t)

t.test('a replica killed under load (GETs and POSTs, logins included): nothing fails, nothing is lost or left behind', async t => {
  const log = new AccessLog()
  const stack = await startStack(t, { onLine: log.collect })
  const load = await UserLoad.login(stack.url, { visitors: 10, posters: 3, loginers: 3 })
  load.start(t)
  await load.waitFor(300)
  const victim = stack.replica('replica-2')
  await victim.kill()
  const killedAt = load.count()
  await load.waitFor(600)
  await load.stop()

  const lines = await log.lines(load.outcomes)
  t.same(load.failures.map(f => ({ ...f, line: log.byId.get(f.requestId ?? '') })), [], 'no request failed, GET or POST')
  t.same(load.lostSessions, [], 'no session lost')
  t.same(load.countsWentBack, [], 'no count went back')
  t.same(await load.sessionsPerLoginer(), [1, 1, 1], 'a repeated login left no second session behind')
  // A visit the dead replica had already counted in Redis is counted again when nginx retries the GET.
  const retried = lines.filter(l => l.upstreams.length > 1)
  t.ok(load.extraCounts <= retried.length, `extra counts (${load.extraCounts}) only from retried requests (${retried.length})`)
  t.notOk(load.outcomes.slice(killedAt + 50).some(o => o.servedBy === 'replica-2'), 'the dead replica serves nothing')
  const postsRetried = retried.filter(l => l.method === 'POST' && l.upstreams[0] === addressOf(victim)).length
  t.comment(`SIGKILL under load: ${load.count()} requests (${load.count('POST')} POSTs), ${load.failures.length} failed, ` +
    `${retried.length} retried by nginx (${postsRetried} POSTs), ${load.extraCounts} extra visit counts`)
})

t.test('a POST refused by a dead replica is sent to another and succeeds', async t => {
  const log = new AccessLog()
  const stack = await startStack(t, { onLine: log.collect })
  const user = new Browser(stack.url)
  await user.login('dave')
  const victim = stack.replica('replica-3')
  await victim.kill()
  // Round robin: of three POSTs in a row, one is sent to the dead replica first.
  const answers = []
  for (const theme of ['dark', 'light', 'dark']) answers.push(await user.post('/preferences', { theme }))
  t.same(answers.map(a => a.status), [302, 302, 302], 'all three POSTs succeeded')
  const lines = await log.lines(answers.map(a => ({ method: 'POST', status: a.status, requestId: a.headers.get('x-request-id'), servedBy: a.servedBy, ms: 0 })))
  const refused = lines.find(l => l.upstreams[0] === addressOf(victim))
  t.ok(refused, 'one POST was first sent to the dead replica')
  t.equal(refused?.upstreams.length, 2, 'and then to a live one')
  t.equal((await user.get('/preferences')).text, 'theme=dark language=en\n', 'the last preference stuck')
})

t.test('every replica down: nginx answers 502; only a request that found no replica to try is given one more pass', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'second-pass-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Two addresses where nothing listens: every connection is refused, and a refused replica rests for 5 s.
  const dead = [await freePort(), await freePort()].map(port => ({ host: '127.0.0.1', port }))
  const log = new AccessLog()
  const nginx = await Nginx.start({ dir, upstreams: dead, onLine: log.collect })
  t.teardown(async () => await nginx.stop())
  const url = `http://127.0.0.1:${nginx.port}`
  const tried = await new Browser(url).post('/login', { username: 'nobody' })
  const rested = await new Browser(url).get('/')
  t.same([tried.status, tried.servedBy, rested.status, rested.servedBy], [502, 'nginx', 502, 'nginx'], 'both answered 502 by nginx')
  const [triedLine, restedLine] = await log.lines([tried, rested].map(r => ({ requestId: r.headers.get('x-request-id') })))
  // The login reached both addresses (refused): sent nowhere again. The GET found both resting: a second pass, which
  // finds them resting too; the 502 stands.
  t.same(triedLine!.upstreams.sort(), dead.map(d => `${d.host}:${d.port}`).sort(), 'a request tried on the replicas is not sent again')
  t.same(restedLine!.upstreams, ['replicas', 'replicas'], 'a request that found no replica to try was given one more pass')
})

t.test('a rolling restart under load fails nothing, POSTs included', async t => {
  const log = new AccessLog()
  const stack = await startStack(t, { onLine: log.collect })
  const load = await UserLoad.login(stack.url, { visitors: 8, posters: 4 })
  const pidsBefore = stack.replicas.map(r => r.pid)
  load.start(t)
  await load.waitFor(200)
  const started = performance.now()
  await stack.rollingRestart()
  const restartMs = performance.now() - started
  const during = load.count()
  await load.waitFor(300)
  await load.stop()

  t.same(load.failures.map(f => ({ ...f, line: log.byId.get(f.requestId ?? '') })), [], 'no request failed')
  t.same(load.lostSessions, [], 'no session lost')
  t.same(load.countsWentBack, [], 'no count went back')
  t.equal(load.extraCounts, 0, 'every visit counted exactly once')
  t.ok(stack.replicas.every((r, i) => r.pid !== pidsBefore[i]), 'every replica is a new process')
  const servedAfter = new Set(load.outcomes.slice(during).map(o => o.servedBy))
  t.same([...servedAfter].sort(), ['replica-1', 'replica-2', 'replica-3'], 'all three serve after the restart')
  // Requests sent to a replica whose listener had closed were refused and retried by nginx: never sent, so safe.
  const retried = (await log.lines(load.outcomes)).filter(l => l.upstreams.length > 1).length
  t.comment(`rolling restart of 3 replicas in ${Math.round(restartMs)} ms under load: ${load.count()} requests ` +
    `(${load.count('POST')} POSTs), ${load.failures.length} failed, ${retried} moved to another replica by nginx`)
})

t.test('SIGTERM: no new connections, readiness 503, work in hand finished, Redis let go, a clean exit', async t => {
  // A slow Redis (paused below) must not turn the request in hand into a 503 here.
  const stack = await startStack(t, { replicas: 1, env: { SHUTDOWN_DRAIN: '5s', REDIS_COMMAND_TIMEOUT: '3s', LOG_LEVEL: 'info' } })
  const replica = stack.replicas[0]!
  const user = new Browser(replica.url)
  await user.login('erin')
  const redis = new Redis(stack.redisUrl)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { redis.disconnect(); agent.destroy() })
  // Readiness over one kept-alive connection, as a balancer polling it would.
  const ready = async () => await new Promise<{ status?: number, body: string }>((resolve, reject) => {
    http.get(`${replica.url}/health/ready`, { agent }, res => {
      let body = ''
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    }).on('error', reject)
  })
  t.equal((await ready()).status, 200)
  const clients = async () => (await redis.client('LIST') as string).match(/name=replica-1 /g)?.length ?? 0
  t.equal(await clients(), 1, 'the replica holds one Redis connection')

  // A visit held inside Redis (writes paused): work in hand when the signal comes.
  await redis.call('CLIENT', 'PAUSE', '1500', 'WRITE')
  const visit = user.get('/')
  await pollUntil('the visit to wait inside Redis', async () =>
    /name=replica-1 .*flags=b/.test(await redis.client('LIST') as string) ? true : undefined, scaled(2000), 10)
  const started = performance.now()
  const exited = replica.process.stop(scaled(10_000))
  await replica.process.waitForLine(/shutting down/, scaled(2000))
  await t.rejects(fetch(`${replica.url}/health/live`), 'new connections are refused at once')
  t.same(await ready(), { status: 503, body: 'shutting down\n' }, 'readiness says it is going away')
  const answer = await visit
  t.equal(answer.text, `${TEXT.visits('erin', 1)}\n`, 'the visit in hand was finished')
  t.equal(answer.headers.get('connection'), 'close', 'its connection closed with the answer')
  t.same(await exited, { code: 0, signal: null }, 'it exited by itself, cleanly')
  const ms = performance.now() - started
  t.ok(ms < 5000, `it left once its last connection was done (${Math.round(ms)} ms), before the drain time`)
  t.equal(await clients(), 0, 'its Redis connection is closed')
})

t.test('a stopping replica closes none of the connections nginx keeps alive: nginx lets go of them within the drain', async t => {
  const stack = await startStack(t, { replicas: 2, env: { LOG_LEVEL: 'info' } })
  const replica = stack.replicas[0]!
  const lines: string[] = []
  replica.process.onLine((_source, line) => { lines.push(line) })
  // Concurrent visits leave nginx holding kept-alive connections to each replica, idle once they are done.
  const user = new Browser(stack.url)
  await user.login('quiet')
  await Promise.all(Array.from({ length: 64 }, async () => await user.get('/whoami')))

  const started = performance.now()
  t.same(await replica.process.stop(scaled(15_000)), { code: 0, signal: null }, 'a clean exit')
  const ms = performance.now() - started
  const shuttingDown = JSON.parse(lines.find(line => line.includes('shutting down')) ?? '{}') as { connections?: number }
  t.ok((shuttingDown.connections ?? 0) > 0, `nginx held ${shuttingDown.connections} idle connections when SIGTERM came`)
  t.notOk(lines.some(line => line.includes('drain time is up')), 'nginx closed every one of them itself; the replica cut none')
  t.ok(ms < 5000, `the replica left as soon as nginx had let go (${Math.round(ms)} ms, drain time 5 s)`)
  t.equal((await user.post('/preferences', { theme: 'dark' })).status, 302, 'a POST right after goes to the other replica')
})

t.test('a hung replica (SIGSTOP): nginx gives up on it in time, GETs succeed elsewhere, it serves again once resumed', async t => {
  const log = new AccessLog()
  const stack = await startStack(t, { onLine: log.collect })
  const load = await UserLoad.login(stack.url, { visitors: 8 })
  load.start(t)
  await load.waitFor(100)
  const victim = stack.replica('replica-2')
  victim.pause()
  // Until nginx has timed out on the hung replica at least once and sent the request elsewhere.
  await pollUntil('a request retried away from the hung replica', async () =>
    [...log.byId.values()].some(l => l.upstreams.length > 1 && l.upstreams[0] === addressOf(victim)) ? true : undefined, scaled(15_000))
  victim.resume()
  const resumedAt = load.count()
  await pollUntil('the resumed replica to serve again', async () =>
    load.outcomes.slice(resumedAt).some(o => o.servedBy === 'replica-2') ? true : undefined, scaled(15_000))
  await load.stop()

  t.same(load.failures, [], 'every GET answered 200')
  t.same(load.lostSessions, [], 'no session lost')
  t.same(load.countsWentBack, [], 'no count went back')
  const slowest = Math.max(...load.outcomes.map(o => o.ms))
  // proxy_read_timeout is 3 s: no user waits much longer than that.
  t.ok(slowest < 4500, `the slowest answer took ${Math.round(slowest)} ms`)
  const lines = await log.lines(load.outcomes)
  const retried = lines.filter(l => l.upstreams.length > 1).length
  // A request nginx gave up on is still in the hung replica's socket, and is counted when it resumes.
  t.ok(load.extraCounts <= retried, `extra counts (${load.extraCounts}) only from retried requests (${retried})`)
  t.comment(`SIGSTOP: ${load.count()} requests, 0 failed, ${retried} retried after the 3 s read timeout, slowest ${Math.round(slowest)} ms`)
})

t.test('Redis down: a clear 503 within a second, session-free pages still work, then recovery by itself', async t => {
  const stack = await startStack(t)
  const user = new Browser(stack.url)
  await user.login('frank')
  t.equal(visitsOf((await user.get('/')).text), 1)
  const pids = stack.replicas.map(r => r.pid)

  await stack.redis!.stop()
  let slowest = 0
  for (let i = 0; i < 6; i++) {
    const started = performance.now()
    const res = await user.get('/')
    slowest = Math.max(slowest, performance.now() - started)
    t.equal(res.status, 503, `visit answered 503 by ${res.servedBy}`)
    t.equal(res.headers.get('retry-after'), '1')
    t.match(res.text, /session store is unavailable/)
    t.match(res.servedBy, /^replica-\d$/, 'the replica\'s own answer, not nginx\'s 502')
  }
  t.ok(slowest < 1000, `the slowest 503 took ${Math.round(slowest)} ms`)
  const login = await new Browser(stack.url).post('/login', { username: 'gina' })
  t.equal(login.status, 503, 'a login fails as clearly')
  t.match(login.text, /session store is unavailable/)
  t.equal((await new Browser(stack.url).get('/')).text, `${TEXT.notLoggedIn}\n`, 'a page without a session still works')
  t.equal((await fetch(`${stack.replicas[0]!.url}/health/ready`)).status, 503, 'readiness is 503')

  await stack.redis!.restart()
  const back = performance.now()
  const res = await pollUntil('visits to work again', async () => {
    const res = await user.get('/')
    return res.status === 200 ? res : undefined
  }, scaled(10_000), 20)
  t.equal(res.text, `${TEXT.visits('frank', 2)}\n`, 'the session Redis kept is valid and the count goes on')
  t.same(stack.replicas.map(r => r.pid), pids, 'no replica was restarted')
  t.comment(`Redis stopped: slowest 503 ${Math.round(slowest)} ms; service back ${Math.round(performance.now() - back)} ms after Redis`)
})

t.test('Redis crashes (SIGKILL) and restarts from its append-only file: every acknowledged login survives', async t => {
  const stack = await startStack(t)
  const users = Array.from({ length: 50 }, () => new Browser(stack.url))
  await Promise.all(users.map(async (user, i) => {
    await user.login(`aof-${i}`)
    t.equal(visitsOf((await user.get('/')).text), 1)
  }))
  // Straight after the last answer: Redis writes the append-only file before it replies, and the OS keeps what
  // a killed process wrote.
  await stack.redis!.kill()
  await stack.redis!.restart()
  // Waiting on the replicas' readiness, not on visits: a round of visits that half succeeds would count twice.
  await pollUntil('every replica to reconnect', async () => {
    const ready = await Promise.all(stack.replicas.map(async r => await probe(`${r.url}/health/ready`)))
    return ready.every(status => status === 200) ? true : undefined
  }, scaled(10_000))
  const answers = await Promise.all(users.map(async user => await user.get('/')))
  t.same(answers.map(a => a.status), users.map(() => 200), 'every user served once Redis is back')
  t.same(answers.map(a => visitsOf(a.text)), users.map(() => 2), 'all 50 sessions kept, with their counts')
})
