// A shard's primary dies while users visit: its replica is promoted, that shard's users get the clear 503 for a
// bounded time and then their sessions back with their counts; the other shards' users never notice. With
// SESSION_WAIT_REPLICAS=1, every login acknowledged just before the kill survives it.
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'
import { sessionKeyOf, startOnRedisCluster } from '../helpers/cluster-stack.ts'

interface Visit { at: number, status: number, text: string }

t.test('a primary SIGKILLed under load: its replica takes over, its shard 503s for a bounded time, the others never fail, no session or acknowledged login lost', async t => {
  const { group, stack } = await startOnRedisCluster(t, { env: { SESSION_WAIT_REPLICAS: '1' } })
  const users = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
    const browser = new Browser(stack.url)
    await browser.login(`visitor-${i}`)
    return { browser, visits: [] as Visit[], last: 0, shard: '' }
  }))
  for (const user of users) user.shard = (await group.primaryFor(sessionKeyOf(user.browser))).id
  // The shard with the most of these users loses its primary.
  const shards = (await group.topology()).filter(n => n.role === 'primary')
  const victim = shards.map(s => ({ s, n: users.filter(u => u.shard === s.id).length })).sort((a, b) => b.n - a.n)[0]!.s
  const onVictim = users.filter(u => u.shard === victim.id)
  const elsewhere = users.filter(u => u.shard !== victim.id)

  const load = { running: true }
  const loops = users.map(async user => {
    while (load.running) {
      const res = await user.browser.get('/')
      user.visits.push({ at: performance.now(), status: res.status, text: res.text })
      if (res.status !== 200) await new Promise(resolve => setTimeout(resolve, 20)) // a user retrying, not a spin
    }
  })
  t.teardown(async () => { load.running = false; await Promise.all(loops) })
  await pollUntil('every user to have visited', async () => users.every(u => u.visits.length > 3) ? true : undefined, scaled(10_000))

  // 50 logins acknowledged (each waited for a replica), then the kill at once.
  const late = Array.from({ length: 50 }, () => new Browser(stack.url))
  await Promise.all(late.map(async (browser, i) => await browser.login(`late-${i}`)))
  const lateOnVictim = (await Promise.all(late.map(async b => (await group.primaryFor(sessionKeyOf(b))).id))).filter(id => id === victim.id).length
  const killedAt = performance.now()
  await group.server(victim).kill()

  const promoted = await pollUntil('a replica to be promoted', async () => {
    const topology = await group.topology()
    return topology.find(n => n.primaryId === null && n.role === 'primary' && n.slots > 0 && n.id !== victim.id &&
      !shards.some(s => s.id === n.id)) ?? undefined
  }, scaled(20_000), 20)
  const promotedAt = performance.now()
  // Served again: every one of the victim shard's users has had a 200 after the kill.
  await pollUntil('the victim shard\'s users to be served again', async () =>
    onVictim.every(u => u.visits.some(v => v.at > killedAt && v.status === 200)) ? true : undefined, scaled(20_000), 20)
  const servedAgainAt = performance.now()
  load.running = false
  await Promise.all(loops)

  const after = (u: typeof users[number]) => u.visits.filter(v => v.at > killedAt)
  const failedElsewhere = elsewhere.flatMap(u => after(u).filter(v => v.status !== 200))
  t.same(failedElsewhere, [], `the other shards' ${elsewhere.length} users never failed`)
  const victimAnswers = onVictim.flatMap(after)
  t.ok(victimAnswers.every(v => v.status === 200 || (v.status === 503 && /session store is unavailable/.test(v.text))),
    'the victim shard\'s users got the page or the clear 503, nothing else')
  const lastFailure = Math.max(...victimAnswers.filter(v => v.status !== 200).map(v => v.at), killedAt)
  const window = lastFailure - killedAt
  t.ok(window < 10_000, `503s for a bounded time: ${Math.round(window)} ms`)
  const wrong = users.filter(user => {
    const counts = user.visits.filter(v => v.status === 200).map(v => visitsOf(v.text))
    return !counts.every((c, i) => c !== null && (i === 0 || c > counts[i - 1]!))
  })
  t.same(wrong.map(u => u.visits.map(v => v.text)), [], 'every session kept: every 200 logged in, its count only going up')
  const survivors = await Promise.all(late.map(async b => visitsOf((await b.get('/')).text)))
  t.same(survivors, late.map(() => 1), `all 50 acknowledged logins survived (${lateOnVictim} on the failed shard)`)
  t.comment(`shard failover under load (${users.length} users, ${onVictim.length} on the failed shard): replica ${promoted.port} promoted ` +
    `${Math.round(promotedAt - killedAt)} ms after the kill; that shard's 503s for ${Math.round(window)} ms, served again ` +
    `${Math.round(servedAgainAt - killedAt)} ms after; other shards 0 failed of ${elsewhere.flatMap(after).length}; ` +
    `50 of 50 acknowledged logins kept (${lateOnVictim} on the failed shard)`)
})
