// A wall clock that steps (issue 21, item 2): one replica's clock stepped back and forward by five minutes while
// users visit, as NTP or `date -s` would step it, on Debian's libfaketime (harness/fake-clock.ts; the monotonic
// clock stays real). Users must not notice (at most one 503 per step), readiness must stay honest, and a request
// answered 503 must never write later, whatever the replica's clock says.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { FakeClock } from '../../harness/fake-clock.ts'
import type { LocalStack } from '../../harness/local-stack.ts'
import { pollUntil } from '../../harness/processes.ts'
import { probe } from '../../harness/replicas.ts'
import { scaled } from '../../harness/timeouts.ts'
import { UserLoad } from '../helpers/load.ts'
import { redisClient, startStack } from '../helpers/stack.ts'

const STEP_SECONDS = 300

function fakeClock (t: Test): FakeClock {
  const dir = mkdtempSync(join(tmpdir(), 'clock-step-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return new FakeClock(dir)
}

/** Sets the clock, and waits until the process on it reads it (`reads`: its offset from real time, in seconds). */
async function step (clock: FakeClock, seconds: number, reads: () => Promise<number>): Promise<void> {
  clock.set(seconds)
  await pollUntil(`the process to read its clock ${seconds} s off (is libfaketime preloaded?)`,
    async () => (Math.abs(await reads() - seconds) < 3 ? true : undefined), scaled(5000), 100)
}

/** A replica's wall clock as its Date header shows it, minus real time, in seconds. */
async function replicaOffset (url: string): Promise<number> {
  const res = await fetch(`${url}/health/live`)
  return (Date.parse(res.headers.get('date')!) - Date.now()) / 1000
}

/**
 * Steps the clock under load, through the given offsets, and checks each step as users see it: at most one
 * failed request per step, none of their counts going back, and the stepped process still serving.
 */
async function stepUnderLoad (t: Test, stack: LocalStack, clock: FakeClock, offsets: number[], reads: () => Promise<number>): Promise<void> {
  const load = await UserLoad.login(stack.url, { visitors: 6, posters: 2 })
  const direct = new Browser(stack.replicas[0]!.url)
  await direct.login('direct')
  load.start(t)
  await load.waitFor(100)
  for (const seconds of offsets) {
    const from = load.outcomes.length
    const was = clock.offsetSeconds
    await step(clock, seconds, reads)
    // Readiness must not say what the replica cannot do: ready right after the step means a visit is served.
    const ready = await probe(`${stack.replicas[0]!.url}/health/ready`)
    const visit = (await direct.get('/')).status
    t.ok(ready !== 200 || visit === 200, `replica-1 right after the step: readiness ${ready}, a visit on it ${visit}`)
    await load.waitFor(300)
    const outcomes = load.outcomes.slice(from)
    const failed = outcomes.filter(o => o.status !== 200 && o.status !== 302)
    const steppedServed = outcomes.filter(o => o.servedBy === 'replica-1').length
    t.ok(failed.length <= 1, `clock ${was} s → ${seconds} s: ${failed.length} of ${outcomes.length} requests failed ` +
      `(${[...new Set(failed.map(o => `${o.status} from ${o.servedBy ?? 'nginx'}`))].join(', ') || 'none'}); replica-1 served ${steppedServed}`)
    t.ok(steppedServed > 0, 'replica-1 kept serving')
    const readiness = await Promise.all(stack.replicas.map(async r => await probe(`${r.url}/health/ready`)))
    t.same(readiness, stack.replicas.map(() => 200), 'every replica ready, and able to serve')
  }
  await load.stop()
  t.same(load.lostSessions, [], 'no session lost')
  t.same(load.countsWentBack, [], 'no count went back')
}

/**
 * Redis paused (CLIENT PAUSE … WRITE) right after a clock step that nothing has used yet: 10 visits to
 * replica-1 answered 503; once Redis resumes and runs them, they must refuse, and the count go on from 1.
 */
async function noLateWrite (t: Test, stack: LocalStack, stepNow: () => Promise<void>): Promise<void> {
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(stack.replicas[0]!.url)
  await user.login('late')
  t.equal(visitsOf((await user.get('/')).text), 1)
  await stepNow()
  await redis.call('CLIENT', 'PAUSE', '2000', 'WRITE')
  const visits = await Promise.all(Array.from({ length: 10 }, async () => await user.get('/')))
  t.same(visits.map(v => v.status), visits.map(() => 503), 'every visit during the pause: 503')
  // Redis runs what was queued in order, before this visit: by then the scripts must have refused.
  const after = await pollUntil('a visit after the pause', async () => {
    const res = await user.get('/')
    return res.status === 200 ? res : undefined
  }, scaled(10_000), 100)
  t.equal(visitsOf(after.text), 2, 'none of the 10 visits answered 503 was counted later')
}

t.test('a replica\'s wall clock stepped back and forward under load', async t => {
  const clock = fakeClock(t)
  const stack = await startStack(t, { replicaClock: clock })
  const reads = async () => await replicaOffset(stack.replicas[0]!.url)
  await stepUnderLoad(t, stack, clock, [-STEP_SECONDS, 0, STEP_SECONDS], reads)
  await noLateWrite(t, stack, async () => await step(clock, 2 * STEP_SECONDS, reads))
})

t.test('a replica whose clock is an hour behind: /sessions and the cookie\'s Expires are on Redis\' clock', async t => {
  const clock = fakeClock(t)
  const stack = await startStack(t, { replicaClock: clock, env: { SESSION_MAX_AGE: '12h' } })
  const replica = stack.replicas[0]!
  await step(clock, -3600, async () => await replicaOffset(replica.url))
  const redis = redisClient(t, stack.redisUrl)
  const user = new Browser(replica.url)
  const login = await user.login('offset')
  const [seconds] = await redis.time()
  const expires = Date.parse(/expires=([^;]+)/i.exec(login.headers.get('set-cookie') ?? '')?.[1] ?? '')
  const off = Math.round((expires - (Number(seconds) * 1000 + 12 * 3_600_000)) / 1000)
  t.ok(Math.abs(off) <= 5, `the cookie expires 12 h after login by Redis' clock (${off} s off), when the session does`)
  const page = await user.get('/sessions', { headers: { accept: 'text/html' } })
  const words = [...page.text.matchAll(/<time [^>]*>([^<]+)<\/time>/g)].map(m => m[1])
  t.equal(words.length, 2, 'logged in, last seen')
  for (const said of words) t.match(said, /^(now|\d+ seconds? ago)$/, `just logged in: "${said}"`)
})
