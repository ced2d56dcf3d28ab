// An evicting Redis (issue 21): a user's index is touched only at login and listing, so an LRU or LFU Redis drops it
// before the sessions, and "log out everywhere" and the per-user cap then miss them. Under each maxmemory-policy,
// with memory pushed until index keys go: either log out everywhere ends every session and the cap holds, or every
// replica refuses readiness, naming the setting. And a policy changed at run time shows in readiness within seconds
// (each replica reads it again when probed, at most every 2 s).
import type { Redis } from 'ioredis'
import t from 'tap'
import { Browser } from '../../harness/client.ts'
import type { LocalStack } from '../../harness/local-stack.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { userIndexKey } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'
import { redisClient, startStack } from '../helpers/stack.ts'

const POLICIES = ['allkeys-lru', 'volatile-lru', 'allkeys-lfu', 'volatile-lfu', 'volatile-ttl', 'allkeys-random', 'noeviction']
const CAP = 5
const json = { accept: 'application/json' }

async function readiness (stack: LocalStack): Promise<Array<{ status: number, text: string }>> {
  return await Promise.all(stack.replicas.map(async r => {
    const res = await fetch(`${r.url}/health/ready`)
    return { status: res.status, text: await res.text() }
  }))
}

/** Polls until every replica's readiness answers `status` (and its body matches), within a deadline; how long it took. */
async function untilEveryReplica (stack: LocalStack, status: number, body: RegExp = /./): Promise<number> {
  const started = Date.now()
  await pollUntil(`every replica's readiness to be ${status} (${body})`, async () =>
    (await readiness(stack)).every(r => r.status === status && body.test(r.text)) || undefined, scaled(15_000), 100)
  return Date.now() - started
}

async function infoCalls (redis: Redis): Promise<number> {
  return Number(/^cmdstat_info:calls=(\d+)/m.exec(await redis.info('commandstats'))?.[1] ?? 0)
}

/** Probes readiness until every replica has read the policy at least twice more (one INFO per replica per check). */
async function checksSeen (stack: LocalStack, redis: Redis): Promise<void> {
  const before = await infoCalls(redis)
  let own = 1 // each reading of the count is an INFO too
  await pollUntil('every replica to read the policy twice more', async () => {
    await readiness(stack)
    own++
    return await infoCalls(redis) - before - own >= 2 * stack.replicas.length || undefined
  }, scaled(15_000), 200)
}

/**
 * The lines matching `match` (from `from` on) once every replica has logged one, after two more policy checks each:
 * a replica's log line reaches the test through its stdout pipe, which may lag the readiness answer it goes with,
 * and the extra checks give a line logged per check (rather than per change) the time to show.
 */
async function linesFromEveryReplica (stack: LocalStack, redis: Redis, lines: string[], match: (line: string) => boolean, from = 0): Promise<string[]> {
  const matching = (): string[] => lines.slice(from).filter(match)
  await pollUntil('a log line from every replica', async () =>
    stack.replicas.every(r => matching().some(l => l.startsWith(`${r.name} `))) || undefined, scaled(15_000), 50)
  await checksSeen(stack, redis)
  return matching()
}

t.test('memory pushed until index keys go, under each maxmemory-policy', async t => {
  const stack = await startStack(t, { env: { SESSION_MAX_PER_USER: String(CAP) } })
  const redis = redisClient(t, stack.redisUrl)
  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1])

  for (const policy of POLICIES) {
    t.test(policy, async t => {
      await redis.config('SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction')
      await redis.flushall()
      await untilEveryReplica(stack, 200)
      const user = `evict-${policy}`
      const devices = Array.from({ length: CAP }, () => new Browser(stack.url))
      for (const device of devices) await device.login(user)

      // A little above what Redis holds, then filler without a TTL: a volatile policy may evict only keys with one,
      // so it has to take the store's own (index included) before it runs out; an allkeys one takes any.
      await redis.config('SET', 'maxmemory', String(await usedMemory() + 256 * 1024), 'maxmemory-policy', policy)
      t.teardown(async () => { await redis.config('SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction') })
      let filler = 0
      const outcome = await pollUntil('the index to be evicted, or writes refused', async () => {
        const refused = await redis.set(`filler:${filler++}`, 'x'.repeat(16 * 1024)).then(() => false, (err: Error) => {
          if (/OOM/.test(err.message)) return true
          throw err
        })
        // A volatile policy may evict every key with a TTL in the very write it then refuses: look first.
        if (await redis.exists(userIndexKey('sess:', user)) === 0) return 'index evicted'
        return refused ? 'writes refused' : undefined
      }, scaled(20_000), 0)

      if (policy !== 'noeviction') {
        t.equal(outcome, 'index evicted', `${policy}: the user's index went after ${filler} filler keys`)
        const ms = await untilEveryReplica(stack, 503, new RegExp(`maxmemory-policy ${policy}\\b`))
        t.pass(`${policy}: every replica refuses readiness, naming the setting (${ms} ms)`)
        return
      }
      t.equal(outcome, 'writes refused', `noeviction: Redis refuses writes after ${filler} filler keys, evicting nothing`)
      t.same((await readiness(stack)).map(r => r.status), stack.replicas.map(() => 200), 'and every replica is ready')
      const listed = JSON.parse((await devices[0]!.get('/sessions', { headers: json })).text).sessions
      const open = await Promise.all(devices.map(async d => (await d.get('/whoami')).status))
      t.same(open, devices.map(() => 200), `all ${CAP} sessions open the site`)
      t.equal(listed.length, CAP, 'and all are listed')
      const extra = await new Browser(stack.url).post('/login', { username: user })
      t.equal(extra.status, 503, 'one more login is refused (the cap holds: no session beyond it)')
      t.equal((await devices[0]!.post('/sessions/revoke-all')).status, 302, 'log out everywhere')
      for (const device of devices) t.equal((await device.get('/')).text, `${TEXT.notLoggedIn}\n`, 'ends every session')
    })
  }
})

t.test('a policy changed at run time: readiness follows within seconds, one log line each way per replica', async t => {
  const lines: string[] = []
  const stack = await startStack(t, { env: { LOG_LEVEL: 'info' }, onLine: (source, line) => lines.push(`${source} ${line}`) })
  const redis = redisClient(t, stack.redisUrl)
  t.teardown(async () => { await redis.config('SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction') })
  await untilEveryReplica(stack, 200)

  // Without maxmemory nothing is ever evicted, whatever the policy says.
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru')
  await checksSeen(stack, redis)
  t.same((await readiness(stack)).map(r => r.status), stack.replicas.map(() => 200), 'allkeys-lru without maxmemory: ready')

  await redis.config('SET', 'maxmemory', String(64 * 1024 * 1024))
  const refusedMs = await untilEveryReplica(stack, 503, /maxmemory-policy allkeys-lru/)
  t.ok(refusedMs < 5000, `maxmemory set: every replica not ready within ${refusedMs} ms`)
  const refusals = await linesFromEveryReplica(stack, redis, lines, l => l.includes('not ready: ') && l.includes('maxmemory-policy allkeys-lru'))
  t.same(refusals.map(l => l.split(' ')[0]).sort(), stack.replicas.map(r => r.name).sort(), 'one log line per replica, not one per check')
  t.match(refusals[0], /"level":50/, 'at error level')

  const mark = lines.length
  await redis.config('SET', 'maxmemory-policy', 'noeviction')
  const readyMs = await untilEveryReplica(stack, 200)
  t.ok(readyMs < 5000, `noeviction again: every replica ready within ${readyMs} ms`)
  const ready = await linesFromEveryReplica(stack, redis, lines, l => l.includes('ready: Redis evicts no keys'), mark)
  t.same(ready.map(l => l.split(' ')[0]).sort(), stack.replicas.map(r => r.name).sort(), 'and says so, once each')
  t.comment(`run-time policy change: not ready after ${refusedMs} ms, ready again after ${readyMs} ms`)
})
