// The Redis connection: standalone, through Sentinel, or to a Redis Cluster, with every wait bounded so that an
// outage turns into a fast, clear error instead of requests piling up on an offline queue.
import { readFileSync } from 'node:fs'
import { Cluster, type ClusterOptions, Command, Redis, type RedisOptions } from 'ioredis'
import type { RedisConfig } from './config.ts'

/** What the store and the app talk to: one connection, or a cluster client routing each key to its node. */
export type RedisClient = Redis | Cluster

export function redisOptions (config: RedisConfig, connectionName: string): RedisOptions {
  const url = new URL(config.url)
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined)
  const tls = url.protocol === 'rediss:'
    ? { ca: read(config.tlsCaFile), cert: read(config.tlsCertFile), key: read(config.tlsKeyFile), servername: url.hostname }
    : undefined
  const common: RedisOptions = {
    connectionName,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: config.password ?? (url.password ? decodeURIComponent(url.password) : undefined),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls,
    // A command waits at most this long for its answer; the default would wait for over a minute.
    commandTimeout: config.commandTimeoutMs,
    // While disconnected, fail at once instead of queueing, and never resend what was in flight when a
    // connection dropped: a request that was answered 503 must not count a visit later, when Redis is back.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    // Reconnect quickly and keep trying forever: recovery needs no restart.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    // After a failover the old primary may still answer, read-only: reconnect to the new one and resend.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false)
  }
  if (config.sentinels.length === 0) {
    return { ...common, host: url.hostname, port: Number(url.port || 6379) }
  }
  return {
    ...common,
    sentinels: config.sentinels,
    name: config.sentinelName,
    sentinelRetryStrategy: (times) => Math.min(times * 100, 1000),
    enableTLSForSentinelMode: tls !== undefined
  }
}

/** Redis Cluster: the same bounds, on every node's connection and on the cluster client's own queue. */
function clusterOptions (config: RedisConfig, connectionName: string): ClusterOptions {
  // Each node is reached by its own address (its certificate names it); a cluster has no database numbers.
  const { retryStrategy, enableOfflineQueue, host, port, db, tls, ...node } = redisOptions(config, connectionName)
  return {
    redisOptions: { ...node, tls: tls && { ...tls, servername: undefined } },
    // ioredis swaps the seeds' names for their addresses, which no node's certificate names: keep the names
    // (REDIS_CLUSTER_NODES), which the certificates are checked against; the connection resolves them itself.
    ...(tls && { dnsLookup: (hostname: string, callback: (err: null, address: string) => void) => callback(null, hostname) }),
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    // A MOVED or ASK (slots migrating) is followed at once; a node that is down is a 503, not a wait.
    retryDelayOnClusterDown: 0,
    retryDelayOnFailover: 0,
    maxRedirections: 4,
    slotsRefreshTimeout: 2000,
    // Without errors ioredis never asks again who serves which slot: a promoted replica or a new shard is found
    // within a second (one CLUSTER SLOTS per second per replica), besides the MOVED answers that also tell it.
    slotsRefreshInterval: 1000,
    // Ready once the slots are known. ioredis' own check (CLUSTER INFO) goes to a node it has only just opened when
    // the cluster hands out hostnames (it swaps the seed addresses for them), and with no offline queue that check
    // failed, again and again: the replicas never got ready. Readiness here runs a session script instead.
    enableReadyCheck: false
  }
}

/**
 * The connections a WAIT must go over to cover the writes to these keys. WAIT has no key: it counts the replicas
 * that have everything its own connection wrote. One Redis: its connection. A cluster keeps one connection per
 * node, so the WAIT for a key goes to the connection of the primary that serves the key's slot, the one its
 * write went over (after a MOVED, ioredis has already updated the slot).
 */
export function connectionsFor (redis: RedisClient, keys: string[]): Redis[] {
  if (!(redis instanceof Cluster)) return [redis]
  const primaries = new Map(redis.nodes('master').map(node => [`${node.options.host}:${node.options.port}`, node]))
  const connections = new Set<Redis>()
  for (const key of keys) {
    const slot = new Command('get', [key]).getSlot() // ioredis' own key → slot hashing, hash tags included
    const node = primaries.get(redis.slots[slot]?.[0] ?? '')
    if (!node) throw new Error(`no connection to the primary of slot ${slot}`)
    connections.add(node)
  }
  return [...connections]
}

/** Resolves once the connection is ready; on a cluster, once every node's connection is. */
export async function untilReady (redis: RedisClient): Promise<void> {
  // Not events.once: it rejects on the first 'error', and a failed attempt is not the end (reconnects follow).
  const ready = async (client: Redis | Cluster) => {
    if (client.status !== 'ready') await new Promise(resolve => client.once('ready', resolve))
  }
  await ready(redis)
  if (redis instanceof Cluster) await Promise.all(redis.nodes().map(ready))
}

const REFRESH_GAP_MS = 200

/** Connects in the background; commands fail fast (503) until the connection is ready. */
export function createRedis (config: RedisConfig, connectionName: string, log: Pick<Console, 'info' | 'error'>): RedisClient {
  const redis = config.clusterNodes.length > 0
    ? new Cluster(config.clusterNodes, clusterOptions(config, connectionName))
    : new Redis(redisOptions(config, connectionName))
  let down = false
  redis.on('ready', () => {
    if (down) log.info('redis connection restored')
    down = false
  })
  if (redis instanceof Cluster) {
    // A node's connection closed (its Redis died, or it was removed): ask at once who serves its slots now. At most
    // every REFRESH_GAP_MS: while a node stays unreachable (no replica to promote yet, or its certificate names
    // another host), each answer lists it again, its new connection fails, and unpaced that loop kept a core busy.
    let lastRefresh = -Infinity
    let pending: NodeJS.Timeout | undefined
    const refresh = () => {
      pending = undefined
      lastRefresh = performance.now()
      redis.refreshSlotsCache()
    }
    redis.on('-node', () => {
      const wait = lastRefresh + REFRESH_GAP_MS - performance.now()
      if (wait <= 0) refresh()
      else pending ??= setTimeout(refresh, wait).unref()
    })
    // One node refused while the others answer (down, or its TLS certificate names another host): say which, and
    // why, once per reason until it is back (a closed connection first, then what each new attempt meets). Only
    // the sessions in its slots get 503s.
    const failing = new Map<string, string>()
    redis.on('node error', (err: Error, key: string) => {
      if (failing.get(key) !== err.message) log.error({ err: { message: err.message }, node: key }, 'redis cluster node connection error')
      failing.set(key, err.message)
    })
    // ioredis opens a node's connection on its first command, and with no offline queue it refuses the commands
    // that come while it is connecting (a burst of 503s): open each as soon as the node is known instead.
    redis.on('+node', (node: Redis) => {
      node.connect().catch(() => {})
      node.on('ready', () => failing.delete(`${node.options.host}:${node.options.port}`))
    })
  }
  redis.on('error', (err: Error) => {
    // ioredis emits an error on every failed reconnect; one line per outage is enough.
    if (!down) log.error({ err: { message: err.message } }, 'redis connection error')
    down = true
  })
  return redis
}
