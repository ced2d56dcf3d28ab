// The Redis connection: standalone or through Sentinel, with every wait bounded so that an outage
// turns into a fast, clear error instead of requests piling up on an offline queue.
import { readFileSync } from 'node:fs'
import { Redis, type RedisOptions } from 'ioredis'
import type { RedisConfig } from './config.ts'

export function redisOptions (config: RedisConfig, connectionName: string): RedisOptions {
  const url = new URL(config.url)
  const tls = url.protocol === 'rediss:'
    ? { ca: config.tlsCaFile ? readFileSync(config.tlsCaFile) : undefined, servername: url.hostname }
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

/** Connects in the background; commands fail fast (503) until the connection is ready. */
export function createRedis (config: RedisConfig, connectionName: string, log: Pick<Console, 'info' | 'error'>): Redis {
  const redis = new Redis(redisOptions(config, connectionName))
  let down = false
  redis.on('ready', () => {
    if (down) log.info('redis connection restored')
    down = false
  })
  redis.on('error', (err: Error) => {
    // ioredis emits an error on every failed reconnect; one line per outage is enough.
    if (!down) log.error({ err: { message: err.message } }, 'redis connection error')
    down = true
  })
  return redis
}
