// A Redis Cluster that hands its clients hostnames, not addresses (`cluster-preferred-endpoint-type hostname`), as
// managed clusters with a TLS certificate per node name do: the replicas are seeded with addresses, learn the
// nodes by name, become ready, serve, follow a failover, and the old primary's return. Every node here announces
// `localhost`.
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { withClient } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import { sessionKeyOf, startOnRedisCluster } from '../helpers/cluster-stack.ts'

t.test('a cluster that hands out hostnames: the replicas get ready, serve a session on every replica, follow a failover and the old primary\'s return', async t => {
  const { group, stack } = await startOnRedisCluster(t, { announceHostname: 'localhost' })
  const slots = await withClient(group.nodes[0]!.port, async redis => await redis.cluster('SLOTS'))
  t.ok(slots.every(([, , primary]) => primary?.[0] === 'localhost'), 'CLUSTER SLOTS names every primary by hostname, not address')

  const user = new Browser(stack.url)
  t.equal((await user.login('hostname')).status, 302, 'a login')
  const servedBy = new Set<string | null>()
  let visits = 0
  for (let i = 0; i < 30 && servedBy.size < 3; i++) {
    const res = await user.get('/')
    t.equal(visitsOf(res.text), ++visits, `visit ${visits} from ${res.servedBy}`)
    servedBy.add(res.servedBy)
  }
  t.equal(servedBy.size, 3, 'every replica served the session')

  const victim = await group.primaryFor(sessionKeyOf(user))
  const killedAt = performance.now()
  await group.server(victim).kill()
  const statuses: number[] = []
  const res = await pollUntil('the session to be served again after its primary died', async () => {
    const res = await user.get('/')
    statuses.push(res.status)
    return res.status === 200 ? res : undefined
  }, scaled(30_000), 100)
  t.ok(statuses.every(s => s === 200 || s === 503), `only clear 503s meanwhile (${statuses.filter(s => s === 503).length})`)
  t.ok(visitsOf(res.text)! > visits, `the count goes on: ${visitsOf(res.text)} after ${visits}`)
  t.comment(`served again ${Math.round(performance.now() - killedAt)} ms after the primary was killed`)

  // Back under the same hostname, it must rejoin as a replica while the user keeps visiting.
  await group.server(victim).restart()
  const during: number[] = []
  let last = visitsOf(res.text)!
  await pollUntil('the old primary to rejoin as a replica', async () => {
    const res = await user.get('/')
    during.push(res.status)
    if (res.status === 200) {
      const count = visitsOf(res.text)!
      if (count <= last) t.fail(`count ${count} after ${last}`)
      last = count
    }
    const back = (await group.topology()).find(n => n.port === victim.port)
    return back?.role === 'replica' && !back.failed ? true : undefined
  }, scaled(30_000), 50)
  for (let i = 0; i < 20; i++) during.push((await user.get('/')).status)
  const refused = during.filter(s => s !== 200)
  t.ok(refused.every(s => s === 503), `${during.length} visits while it rejoined: nothing but clear 503s failed`)
  t.ok(refused.length <= 1, `${refused.length} 503s while it rejoined, at most one`)
})
