// The store on a real Redis Cluster (three primaries): every script touches one key, no command spans two slots,
// so sessions, counters, the user index, revocation and the login rate limit work with keys spread over nodes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster as RedisCluster } from 'ioredis'
import t, { type Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { pollUntil } from '../../harness/processes.ts'
import { RedisClusterGroup } from '../../harness/redis-cluster.ts'
import { scaled } from '../../harness/timeouts.ts'
import { startStack } from '../helpers/stack.ts'

const LOGIN_LIMIT = 30

/** Three Redis Cluster primaries, and nginx + 3 replicas using them. */
async function startOnRedisCluster (t: Test, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const group = await RedisClusterGroup.start({ dir })
  t.teardown(async () => await group.stop())
  const stack = await startStack(t, { redisUrl: group.nodes[0]!.url, env: { REDIS_CLUSTER_NODES: group.addresses, ...env } })
  return { group, stack }
}

t.test('on Redis Cluster: sessions spread over the nodes, counted, listed, revoked and rate-limited as on one Redis', async t => {
  const { group, stack } = await startOnRedisCluster(t, { LOGIN_RATE_LIMIT: String(LOGIN_LIMIT) })
  const client = new RedisCluster(group.nodes.map(n => ({ host: '127.0.0.1', port: n.port })))
  t.teardown(() => client.disconnect())
  let logins = 0
  const login = async (browser: Browser, name: string) => { logins++; return await browser.login(name) }

  // 20 users: their sessions and indexes (40 keys) hash to slots all over the cluster.
  const users = Array.from({ length: 20 }, () => new Browser(stack.url))
  for (const [i, user] of users.entries()) await login(user, `user${i}`)
  const keysPerNode = await group.eachNode(async node => await node.dbsize())
  t.ok(keysPerNode.filter(n => n > 0).length === 3, `keys on every node (${keysPerNode.join(', ')})`)

  const racer = users[0]!
  await Promise.all(Array.from({ length: 300 }, async () => await racer.get('/')))
  t.equal(visitsOf((await racer.get('/')).text), 301, '300 concurrent visits over three replicas, none lost')

  // One user on three devices: three session keys and the index, in four slots.
  const devices = [new Browser(stack.url), new Browser(stack.url), new Browser(stack.url)]
  for (const device of devices) await login(device, 'nomad')
  const listing = await devices[0]!.get('/sessions')
  t.match(listing.text, /^Sessions of nomad: 3/, 'the user index finds all three')
  t.equal(await client.exists('sess:u:{nomad}'), 1, 'the index is a key of the cluster')
  // Each line after the first: handle, created, last seen, …, "(this one)" on the asking device's line.
  const other = listing.text.trim().split('\n').slice(1).find(line => !line.endsWith('(this one)'))
  const handle = other?.split(' ')[0]
  t.equal((await devices[0]!.post(`/sessions/${handle}/revoke`)).status, 302, 'revoke one')
  const loggedIn = await Promise.all(devices.map(async d => (await d.get('/whoami')).text !== 'You are not logged in\n'))
  t.equal(loggedIn.filter(Boolean).length, 2, 'that one device is logged out, the others are not')
  t.equal((await devices[0]!.post('/sessions/revoke-all')).status, 302, 'log out everywhere')
  for (const device of devices) {
    for (let i = 0; i < 3; i++) t.equal((await device.get('/whoami')).text, 'You are not logged in\n', 'every device, every replica')
  }
  t.equal(await client.exists('sess:u:{nomad}'), 0, 'and the index is gone')

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
})

t.test('a cluster node dies: fast, clear 503s (never a hang), then everything back by itself, no session lost', async t => {
  const { group, stack } = await startOnRedisCluster(t)
  const users = Array.from({ length: 9 }, (_, i) => ({ browser: new Browser(stack.url), name: `u${i}`, visits: 0 }))
  for (const user of users) {
    await user.browser.login(user.name)
    user.visits = visitsOf((await user.browser.get('/')).text)!
  }
  const visitAll = async () => await Promise.all(users.map(async user => {
    const started = performance.now()
    const res = await user.browser.get('/')
    const visits = visitsOf(res.text)
    if (visits !== null) user.visits = visits
    return { status: res.status, text: res.text, ms: performance.now() - started, visits }
  }))

  // The node holding the most sessions dies.
  const sessionsPerNode = await group.eachNode(async node => (await node.keys('sess:{*')).length)
  const victim = group.nodes[sessionsPerNode.indexOf(Math.max(...sessionsPerNode))]!
  await victim.kill()
  // Its slots fail at once; the others until the cluster declares itself down (cluster-node-timeout, 2 s).
  const during = []
  for (let round = 0; round < 4; round++) during.push(...await visitAll())
  const slowest = Math.max(...during.map(a => a.ms))
  t.ok(during.every(a => a.status === 200 || (a.status === 503 && /session store is unavailable/.test(a.text))),
    'every answer is the page or the clear 503')
  t.ok(during.some(a => a.status === 503), `the sessions on the dead node get 503s (${during.filter(a => a.status === 503).length} of ${during.length})`)
  t.ok(slowest < 1000, `none waits: slowest ${Math.round(slowest)} ms`)

  await victim.restart() // from its append-only file
  const before = users.map(u => u.visits)
  const started = performance.now()
  await pollUntil('every user to be served again', async () =>
    (await visitAll()).every(a => a.status === 200) ? true : undefined, scaled(20_000), 250)
  t.comment(`served again ${Math.round(performance.now() - started)} ms after the node restarted`)
  t.ok(users.every((u, i) => u.visits > before[i]!), 'every session survived, its count going on')
})
