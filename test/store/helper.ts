// The store tier: RedisSessionStore driven directly, on one real redis-server per test file. No Fastify, no
// nginx: each script's effect on Redis, and what a user of the store sees, in milliseconds.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { exitWithChildrenOnSignals, pollUntil } from '../../harness/processes.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import type { RedisClient } from '../../services/redis.ts'
import { RedisSessionStore, type SessionStoreOptions } from '../../services/session-store/store.ts'
import { commentEngine } from '../helpers/engine.ts'

export const PREFIX = 'sess:'

/** A fresh session id, as @fastify/session makes them (base64url, 32 characters). */
export function newId (): string {
  return randomBytes(24).toString('base64url')
}

/** A redis-server for the whole file (no persistence), stopped and its directory removed when the file ends. */
export async function startRedis (t: Test): Promise<RedisServer> {
  exitWithChildrenOnSignals()
  commentEngine(t)
  const dir = mkdtempSync(join(tmpdir(), 'store-tier-'))
  const server = await RedisServer.start({ dir, persistence: false })
  t.teardown(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return server
}

export interface StoreUnderTest {
  store: RedisSessionStore
  /** The test's own connection, for checks behind the store's back. */
  redis: Redis
}

/**
 * A store on that Redis (emptied first) with these options, over a connection bounded as the app's is (a
 * 500 ms command timeout, no retries); both connections closed when the test ends.
 */
export async function storeOn (t: Test, server: RedisServer, options: Partial<SessionStoreOptions> = {}): Promise<StoreUnderTest> {
  const client = new Redis(server.url, { commandTimeout: 500, maxRetriesPerRequest: 0 })
  const redis = new Redis(server.url)
  t.teardown(() => {
    client.disconnect()
    redis.disconnect()
  })
  await redis.flushall()
  const store = new RedisSessionStore(client, { prefix: PREFIX, idleTtlMs: 60_000, maxAgeMs: 3_600_000, ...options })
  return { store, redis }
}

/** Redis' own clock (epoch ms), the one every session time is on. */
export async function redisNow (redis: RedisClient): Promise<number> {
  const [seconds, micros] = await redis.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

/**
 * Until Redis' clock has moved past now: logins made in the same millisecond tie (same deadline), and a test of
 * "oldest first" needs each a millisecond of its own.
 */
export async function nextMillisecond (redis: RedisClient): Promise<void> {
  const now = await redisNow(redis)
  await pollUntil('Redis\' clock to move on', async () => (await redisNow(redis) > now ? true : undefined), scaled(1000), 1)
}
