// A Redis Cluster that hands its clients hostnames, not addresses (`cluster-preferred-endpoint-type hostname`), as
// managed clusters with a TLS certificate per node name do (ElastiCache with in-transit encryption): the replicas
// learn the nodes by name, become ready, serve, follow a failover, and the old primary's return. First every node
// announces `localhost`, without TLS; then each node has its own name (node-1.localhost, …: nss-myhostname resolves
// them to loopback) and speaks TLS only, with a certificate for that name which the replicas check; last, the nodes ask
// the replicas for a certificate of their own (REDIS_TLS_CERT_FILE).
import t, { type Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import type { RedisClusterGroup } from '../../harness/redis-cluster.ts'
import { withClient } from '../../harness/redis-server.ts'
import type { LocalStack } from '../../harness/local-stack.ts'
import { scaled } from '../../harness/timeouts.ts'
import { sessionKey } from '../../services/session-store/keys.ts'
import { sessionKeyOf, startOnRedisCluster } from '../helpers/cluster-stack.ts'
import { certificateFor } from '../helpers/tls.ts'

async function servesAndFollowsAFailover (t: Test, group: RedisClusterGroup, stack: LocalStack) {
  const names = new Map(group.nodes.map((node, i) => [node.port, group.hostname(i + 1)]))
  const slots = await withClient(group.nodes[0]!.port, async redis => await redis.cluster('SLOTS'))
  const hosts = slots.flatMap(([, , ...nodes]) => nodes.map(([host, port]) => [host, names.get(port)]))
  t.ok(hosts.every(([host, name]) => host === name), `CLUSTER SLOTS names every node by its hostname: ${[...new Set(hosts.map(([host]) => host))].sort().join(', ')}`)

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
}

t.test('every node announces localhost: the replicas get ready, serve a session on every replica, follow a failover and the old primary\'s return', async t => {
  const { group, stack } = await startOnRedisCluster(t, { announceHostname: 'localhost' })
  await servesAndFollowsAFailover(t, group, stack)
})

t.test('TLS, each node by its own name with a certificate for it: the same, verified; a node that presents another name is refused until it presents its own', async t => {
  const lines: string[] = []
  const { group, stack, certs } = await startOnRedisCluster(t, {
    tls: true,
    announceHostname: n => `node-${n}.localhost`,
    onLine: (source, line) => { if (source.startsWith('replica')) lines.push(line) }
  })
  await servesAndFollowsAFailover(t, group, stack)
  /** Each replica's /health/ready status. */
  const ready = async () => await Promise.all(stack.replicas.map(async r => (await fetch(`${r.url}/health/ready`)).status))

  t.test('a node whose certificate names another host is refused: its sessions get 503s, readiness says so, the log says why', async t => {
    // The primary serving the readiness check's key, so that readiness must notice.
    const victim = await group.primaryFor(sessionKey('sess:', 'ready'))
    const name = group.hostname(group.nodes.indexOf(group.server(victim)) + 1)!
    const own = certs!.certificate(name)
    const other = certificateFor(certs!.dir, 'elsewhere.localhost')
    // Users until one has a session on the victim's shard and one elsewhere.
    const onVictim: Browser[] = []
    const elsewhere: Browser[] = []
    while (onVictim.length === 0 || elsewhere.length === 0) {
      const user = new Browser(stack.url)
      await user.login('named')
      ;((await group.primaryFor(sessionKeyOf(user))).id === victim.id ? onVictim : elsewhere).push(user)
    }
    t.same(await ready(), [200, 200, 200], 'ready while every name matches')

    // Same CA, another name. Connections already open stay up: drop the replicas' (the harness's own is skipped).
    const from = lines.length
    await withClient(victim.port, async redis => {
      await redis.config('SET', 'tls-cert-file', other.cert, 'tls-key-file', other.key)
      await redis.call('CLIENT', 'KILL', 'TYPE', 'normal')
    })
    await pollUntil('every replica to be unready', async () => (await ready()).every(s => s === 503) ? true : undefined, scaled(10_000), 100)
    t.pass(`not ready (${name} presents elsewhere.localhost)`)
    t.equal((await onVictim[0]!.get('/')).status, 503, `a session on ${name}'s shard: 503`)
    t.equal(visitsOf((await elsewhere[0]!.get('/')).text), 1, 'a session on another shard is served')
    const refusal = await pollUntil('the replicas to log why', async () => lines.slice(from).find(line =>
      line.includes('redis cluster node connection error') && line.includes(name) && line.includes('altnames')), scaled(5000), 100)
    t.match(JSON.parse(refusal), { err: { message: /does not match certificate's altnames.*elsewhere\.localhost/ }, node: new RegExp(`^${name}:`) },
      `the log names the node and the mismatch: ${refusal}`)

    await withClient(victim.port, async redis => await redis.config('SET', 'tls-cert-file', own.cert, 'tls-key-file', own.key))
    await pollUntil('every replica to be ready again', async () => (await ready()).every(s => s === 200) ? true : undefined, scaled(10_000), 100)
    t.pass('its own name again: ready, with no restart')
    t.equal(visitsOf((await onVictim[0]!.get('/')).text), 1, `the session on ${name}'s shard is served again`)
  })

  t.test('nodes that ask for client certificates (tls-auth-clients yes): refused without one, every shard served with one', async t => {
    // Every node asks from now on (the cluster bus already presents each node's own certificate); dropping the
    // replicas' connections makes them handshake again.
    await group.eachNode(async node => {
      await node.call('CONFIG', 'SET', 'tls-auth-clients', 'yes')
      await node.call('CLIENT', 'KILL', 'TYPE', 'normal')
    })
    t.teardown(async () => await group.eachNode(async node => await node.call('CONFIG', 'SET', 'tls-auth-clients', 'optional')))
    await pollUntil('every replica to be unready without a certificate', async () => (await ready()).every(s => s === 503) ? true : undefined, scaled(10_000), 100)
    t.pass('no client certificate: no replica is ready')

    const client = certificateFor(certs!.dir, 'sessions-replica')
    for (const replica of stack.replicas) await replica.restart({ REDIS_TLS_CERT_FILE: client.cert, REDIS_TLS_KEY_FILE: client.key })
    await pollUntil('every replica to be ready with its certificate', async () => (await ready()).every(s => s === 200) ? true : undefined, scaled(10_000), 100)
    // Users until every primary holds a session: each shard's node checked the certificate.
    const shards = new Map<string, Browser>()
    for (let i = 0; i < 60 && shards.size < 3; i++) {
      const user = new Browser(stack.url)
      t.equal((await user.login('certified')).status, 302, 'a login')
      shards.set((await group.primaryFor(sessionKeyOf(user))).id, user)
    }
    t.equal(shards.size, 3, 'sessions on all three shards')
    for (const user of shards.values()) t.equal(visitsOf((await user.get('/')).text), 1, 'each served, its visit counted')
  })
})
