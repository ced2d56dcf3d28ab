// The store on a real Redis Cluster (three primaries): hash tags keep each script's keys in one slot, so every
// operation works with keys spread over the nodes; and a cluster client that no longer knows the node of a slot
// answers the store's clear 503, not a 500.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Cluster } from 'ioredis'
import t, { type Test } from 'tap'
import { exitWithChildrenOnSignals, pollUntil } from '../../harness/processes.ts'
import { RedisClusterGroup } from '../../harness/redis-cluster.ts'
import { withClient } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import { SessionStoreUnavailableError } from '../../services/errors.ts'
import { createRedis, type RedisClient, untilReady } from '../../services/redis.ts'
import { endedKey, loginRequestKey, sessionKey, userIndexKey } from '../../services/session-store/keys.ts'
import { RedisSessionStore, type SessionStoreOptions } from '../../services/session-store/store.ts'
import { commentEngine } from '../helpers/engine.ts'
import { newId, nextMillisecond, PREFIX } from './helper.ts'

exitWithChildrenOnSignals()
commentEngine(t)

const dir = mkdtempSync(join(tmpdir(), 'store-tier-cluster-'))
const group = await RedisClusterGroup.start({ dir, primaries: 3, replicasPerPrimary: 0 })
t.teardown(async () => {
  await group.stop()
  rmSync(dir, { recursive: true, force: true })
})
const keyslot = async (key: string) => await withClient(group.nodes[0]!.port, async redis => await redis.cluster('KEYSLOT', key) as number)

/** The app's own cluster client (services/redis.ts), ready, closed when the test ends. */
async function clusterClient (t: Test): Promise<RedisClient> {
  const clusterNodes = group.nodes.map(n => ({ host: '127.0.0.1', port: n.port }))
  const config = { url: 'redis://127.0.0.1', sentinels: [], sentinelName: '', clusterNodes, commandTimeoutMs: 500, tlsCaFile: undefined, tlsCertFile: undefined, tlsKeyFile: undefined, password: undefined }
  const redis = createRedis(config, 'store-tier', { info: () => {}, error: () => {} })
  t.teardown(() => redis.disconnect())
  await pollUntil('the cluster client to be ready', async () => { await untilReady(redis); return true }, scaled(10_000))
  return redis
}

function storeOn (redis: RedisClient, options: Partial<SessionStoreOptions> = {}): RedisSessionStore {
  return new RedisSessionStore(redis, { prefix: PREFIX, idleTtlMs: 60_000, maxAgeMs: 3_600_000, loginRetries: true, ...options })
}

t.test('a session and its ended marker share a slot; sessions and indexes spread over the nodes', async t => {
  const id = newId()
  t.equal(await keyslot(endedKey(PREFIX, id)), await keyslot(sessionKey(PREFIX, id)), 'the ended marker: the session\'s slot')
  t.equal(await keyslot(sessionKey(PREFIX, id)), await keyslot(id), 'the slot of the id alone (the hash tag)')
  t.equal(await keyslot(userIndexKey(PREFIX, 'ann')), await keyslot('ann'), 'an index: the slot of its user name')
  t.equal(await keyslot(loginRequestKey(PREFIX, 'req')), await keyslot('req'), 'a login record: the slot of its request id')

  const redis = await clusterClient(t)
  const store = storeOn(redis, { maxPerUser: 3 })
  const ids = Array.from({ length: 12 }, () => newId())
  for (const [i, id] of ids.entries()) {
    await store.create(id, { user: `user${i % 4}`, n: i })
    await nextMillisecond(redis) // "oldest" needs a millisecond of its own
  }
  const nodes = new Set(await Promise.all(ids.map(async id => (await group.primaryFor(sessionKey(PREFIX, id))).port)))
  t.ok(nodes.size > 1, `the sessions live on ${nodes.size} nodes`)
  t.same(await Promise.all(ids.map(async id => (await store.load(id, 'visits'))?.n)), ids.map((_, i) => i), 'each reads back from its node')
  await store.create(newId(), { user: 'user0' })
  t.equal(await store.load(ids[0]!), null, 'the cap ends the oldest across slots')
  t.equal((await store.listForUser('user1')).length, 3, 'lists gather sessions from several nodes')
  t.equal(await store.revoke('user1', (await store.listForUser('user1'))[0]!.handle), true)
  await store.destroy(ids[2]!)
  const marker = await withClient((await group.primaryFor(sessionKey(PREFIX, ids[2]!))).port, async redis => await redis.exists(endedKey(PREFIX, ids[2]!)))
  t.equal(marker, 1, 'ending a session wrote its marker on the session\'s node, in the same script')
  t.equal(await store.destroyAllForUser('user3'), 3, 'log out everywhere, across nodes')
})

t.test('a cluster client that lost the node of a written slot: the store\'s clear 503, not a 500', async t => {
  const redis = await clusterClient(t)
  let drop = false
  // The moment the write is answered, the client drops its node connections (as when they all close at once):
  // the WAIT that follows finds no connection to the primary of the session's slot.
  const store = storeOn(redis, {
    waitReplicas: 1,
    observe: (operation, outcome) => {
      if (drop && operation === 'create' && outcome === 'ok') (redis as Cluster).disconnect(true)
    }
  })
  const id = newId()
  drop = true
  const err = await store.create(id, { cart: [] }).catch(e => e)
  drop = false
  t.ok(err instanceof SessionStoreUnavailableError, `the store's own error (got ${err})`)
  t.equal(err.statusCode, 503, 'answered 503 (Retry-After), as for any Redis failure')
  t.match(err.cause?.message, /no connection to the primary of slot \d+/, 'saying why, in its cause (logged)')
  await pollUntil('the client to reconnect', async () => { await untilReady(redis); return true }, scaled(10_000))
  t.equal(await storeOn(redis).now() > 0, true, 'and it recovers by itself')
})
