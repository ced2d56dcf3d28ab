// Automatic failover: the primary Redis is killed under load, the Sentinels promote the replica, and the
// replicas follow by themselves. Logins are acknowledged only once the Redis replica has them (WAIT).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { SentinelGroup } from '../../harness/sentinel.ts'
import { scaled } from '../../harness/timeouts.ts'
import { startStack } from '../helpers/stack.ts'
import { UserLoad } from '../helpers/load.ts'
import { TEXT } from '../../services/views.ts'

t.test('the primary Redis dies under load: acknowledged logins survive, service resumes without a replica restart', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-'))
  const log: string[] = []
  const group = await SentinelGroup.start({ dir, onLine: (source, line) => log.push(`${source} | ${line}`) })
  t.teardown(async () => {
    await group.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const oldPrimary = await group.primary()
  const stack = await startStack(t, {
    redisUrl: oldPrimary.url, // ignored for addresses when Sentinels are given
    env: { REDIS_SENTINELS: group.addresses, REDIS_SENTINEL_NAME: group.name, SESSION_WAIT_REPLICAS: '1' }
  })
  const pids = stack.replicas.map(r => r.pid)

  const load = await UserLoad.login(stack.url, { visitors: 8 })
  load.start(t)
  await load.waitFor(200)
  // Logged in the instant before the crash: acknowledged means the Redis replica has them.
  const lateUsers = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const user = new Browser(stack.url)
    await user.login(`late-${i}`)
    return user
  }))
  const killedAt = performance.now()
  const before = load.count()
  await oldPrimary.kill()

  const newPrimary = await pollUntil('the Sentinels to promote the replica', async () => {
    const primary = await group.primary()
    return primary !== oldPrimary ? primary : undefined
  }, scaled(20_000), 100)
  const promotedMs = performance.now() - killedAt
  await pollUntil('the load to be served again', async () =>
    load.outcomes.slice(-20).every(o => o.status === 200) && load.outcomes.length > before + 20 ? true : undefined, scaled(20_000), 50)
  const resumedMs = performance.now() - killedAt
  await load.stop()

  t.not(newPrimary.port, oldPrimary.port)
  t.same(load.lostSessions, [], 'no session of the load was lost')
  for (const [i, user] of lateUsers.entries()) {
    t.equal((await user.get('/')).text, `${TEXT.visits(`late-${i}`, 1)}\n`, `late-${i}, logged in just before the crash, still is`)
  }
  const failures = load.failures
  t.ok(failures.every(f => f.status === 503), 'what failed during the failover failed with a clear 503')
  t.ok(failures.every(f => f.ms < 1500), 'and fast')
  t.same(stack.replicas.map(r => r.pid), pids, 'no replica was restarted')

  // One Redis replica is gone with the old primary, so a login cannot be made durable: it is refused, not
  // silently weakened. Once the old primary is back, the Sentinels make it a replica and logins work again.
  const refused = await new Browser(stack.url).post('/login', { username: 'nobody-to-copy' })
  t.equal(refused.status, 503, 'a login that no replica can confirm is refused')
  await oldPrimary.restart()
  const again = await pollUntil('logins to be confirmed again', async () => {
    const user = new Browser(stack.url)
    const res = await user.post('/login', { username: 'after' })
    return res.status === 302 ? user : undefined
  }, scaled(20_000), 200)
  t.equal(visitsOf((await again.get('/')).text), 1)
  t.comment(`failover: replica promoted ${Math.round(promotedMs)} ms after the kill, load served again after ` +
    `${Math.round(resumedMs)} ms; ${failures.length} of ${load.count()} requests answered 503, ` +
    `${load.countsWentBack.length} answers showed a count lower than before (visits are not WAITed for)`)
  if (!t.passing()) t.comment(log.slice(-60).join('\n'))
})
