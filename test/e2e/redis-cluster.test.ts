// The store on a real Redis Cluster (three primaries, a replica each), as the least-privilege user of docs/security.md:
// every script touches one key, no command spans two slots, so sessions, counters, the user index, revocation and
// the login rate limit work with keys spread over nodes. Failover: redis-cluster-failover.test.ts; slots moving
// and a new shard: redis-cluster-reshard.test.ts.
import { Cluster as RedisCluster } from 'ioredis'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { withClient } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import { startOnRedisCluster } from '../helpers/cluster-stack.ts'
import { userIndexKey } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'
import { commentEngine } from '../helpers/engine.ts'

const LOGIN_LIMIT = 30

commentEngine(t)

t.test('on Redis Cluster, as the least-privilege user: sessions spread over the shards, counted, listed, revoked and rate-limited as on one Redis', async t => {
  const { group, stack } = await startOnRedisCluster(t, { acl: true, env: { LOGIN_RATE_LIMIT: String(LOGIN_LIMIT) } })
  const client = new RedisCluster(group.nodes.map(n => ({ host: '127.0.0.1', port: n.port })))
  t.teardown(() => client.disconnect())
  let logins = 0
  const login = async (browser: Browser, name: string) => { logins++; return await browser.login(name) }

  // 20 users: their sessions and indexes (40 keys) hash to slots all over the cluster.
  const users = Array.from({ length: 20 }, () => new Browser(stack.url))
  for (const [i, user] of users.entries()) await login(user, `user${i}`)
  const primaries = (await group.topology()).filter(n => n.role === 'primary')
  const keysPerShard = await Promise.all(primaries.map(async p => await withClient(p.port, async redis => await redis.dbsize())))
  t.ok(keysPerShard.every(n => n > 0), `keys on every shard (${keysPerShard.join(', ')})`)
  t.match(await withClient(primaries[0]!.port, async redis => await redis.client('LIST') as string), /name=replica-1 .*user=sessions/,
    'the replicas are connected as the least-privilege user')

  const racer = users[0]!
  await Promise.all(Array.from({ length: 300 }, async () => await racer.get('/')))
  t.equal(visitsOf((await racer.get('/')).text), 301, '300 concurrent visits over three replicas, none lost')

  // One user on three devices: three session keys and the index, in four slots.
  const devices = [new Browser(stack.url), new Browser(stack.url), new Browser(stack.url)]
  for (const device of devices) await login(device, 'nomad')
  const listing = await devices[0]!.get('/sessions')
  t.match(listing.text, /^Sessions of nomad: 3/, 'the user index finds all three')
  t.equal(await client.exists(userIndexKey('sess:', 'nomad')), 1, 'the index is a key of the cluster')
  // Each line after the first: handle, created, last seen, …, "(this one)" on the asking device's line.
  const other = listing.text.trim().split('\n').slice(1).find(line => !line.endsWith('(this one)'))
  const handle = other?.split(' ')[0]
  t.equal((await devices[0]!.post(`/sessions/${handle}/revoke`)).status, 302, 'revoke one')
  const loggedIn = await Promise.all(devices.map(async d => (await d.get('/whoami')).text !== `${TEXT.notLoggedIn}\n`))
  t.equal(loggedIn.filter(Boolean).length, 2, 'that one device is logged out, the others are not')
  t.equal((await devices[0]!.post('/sessions/revoke-all')).status, 302, 'log out everywhere')
  for (const device of devices) {
    for (let i = 0; i < 3; i++) t.equal((await device.get('/whoami')).text, `${TEXT.notLoggedIn}\n`, 'every device, every replica')
  }
  t.equal(await client.exists(userIndexKey('sess:', 'nomad')), 0, 'and the index is gone')

  // Scripts vanish from every node (as after a restart or failover): the hot path reloads them.
  await group.eachNode(async node => await node.script('FLUSH'))
  t.equal(visitsOf((await racer.get('/')).text), 302, 'SCRIPT FLUSH on every node: the visit still counts')

  // The login rate limit's counter lives in the cluster too: it holds across replicas.
  let refusedAt = 0
  while (refusedAt === 0 && logins <= LOGIN_LIMIT) {
    logins++
    const res = await new Browser(stack.url).post('/login', { username: `late${logins}` })
    if (res.status === 429) refusedAt = logins
    else t.equal(res.status, 302, `login ${logins} accepted`)
  }
  t.equal(refusedAt, LOGIN_LIMIT + 1, `login ${LOGIN_LIMIT + 1} within the minute is refused (429)`)

  // Readiness reads the eviction policy of every primary (INFO, allowed to this user): one that may evict is enough.
  const readiness = async () => await Promise.all(stack.replicas.map(async r => {
    const res = await fetch(`${r.url}/health/ready`)
    return `${res.status} ${await res.text()}`
  }))
  t.same((await readiness()).map(r => r.slice(0, 3)), stack.replicas.map(() => '200'), 'every primary evicts nothing: ready')
  const evicting = primaries.at(-1)!
  await withClient(evicting.port, async redis => await redis.config('SET', 'maxmemory', '64mb', 'maxmemory-policy', 'volatile-lru'))
  const named = `127.0.0.1:${evicting.port} has maxmemory-policy volatile-lru`
  await pollUntil(`every replica to refuse readiness naming ${named}`, async () =>
    (await readiness()).every(r => r.startsWith('503') && r.includes(named)) || undefined, scaled(15_000), 100)
  t.pass(`one primary set to volatile-lru: every replica not ready, naming it (${named})`)
})
