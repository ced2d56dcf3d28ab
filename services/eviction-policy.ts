// Whether Redis may evict the store's keys. A user's index (sess:u:{user}) is touched only at login and listing,
// so an evicting Redis drops it long before the sessions it lists: "log out everywhere" and the per-user cap then
// miss those sessions, and /sessions calls them gone while they still open the site. Only a Redis that never
// evicts is safe: maxmemory-policy noeviction (a full Redis then refuses writes, see session-store/scripts.ts), or
// no maxmemory at all. volatile-* would spare a key without a TTL, but the index needs its TTL so as not to leak.
// Read with INFO, not CONFIG GET: managed Redis (ElastiCache) forbids CONFIG; on a cluster, from every primary.
import { Cluster, type Redis } from 'ioredis'
import type { RedisClient } from './redis.ts'

/** How often the policy is read again: a change made at run time shows in readiness within this long. */
export const POLICY_CHECK_INTERVAL_MS = 2000

/** What is wrong with this server's eviction settings for the store, from its INFO memory; undefined when nothing. */
export function evictionProblem (info: string, where: string): string | undefined {
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1]
  const maxmemory = Number(/^maxmemory:(\d+)/m.exec(info)?.[1])
  if (policy === undefined || Number.isNaN(maxmemory)) return `INFO memory of ${where} does not say its maxmemory-policy`
  if (policy === 'noeviction' || maxmemory === 0) return undefined
  return `${where} has maxmemory-policy ${policy} (maxmemory ${maxmemory} bytes): it may evict a user's session index ` +
    'before the sessions, and "log out everywhere" and the per-user cap would then miss them. Set maxmemory-policy ' +
    'noeviction (ElastiCache: in the parameter group; its default is volatile-lru)'
}

/** The first problem found on any primary, or undefined when every one of them never evicts. */
async function readProblem (redis: RedisClient): Promise<string | undefined> {
  const servers: Array<[Redis, string]> = redis instanceof Cluster
    ? redis.nodes('master').map(node => [node, `the Redis primary ${node.options.host}:${node.options.port}`])
    : [[redis, 'the Redis primary']]
  if (servers.length === 0) return 'no Redis Cluster primary known yet'
  const problems = await Promise.all(servers.map(async ([server, where]) => {
    try {
      return evictionProblem(await server.info('memory'), where)
    } catch (err) {
      return `cannot read the maxmemory-policy of ${where} (INFO memory): ${(err as Error).message}`
    }
  }))
  return problems.find(problem => problem !== undefined)
}

/**
 * Reads the policy now and every POLICY_CHECK_INTERVAL_MS, and says what readiness should: one log line each time
 * the verdict changes, so that a refused setting is named once, not at every check.
 */
interface Log { error: (message: string) => void, info: (message: string) => void }

export class EvictionPolicyWatch {
  readonly #redis: RedisClient
  readonly #log: Log
  readonly #first: Promise<void>
  #problem: string | undefined
  readonly #timer: NodeJS.Timeout

  constructor (redis: RedisClient, log: Log) {
    this.#redis = redis
    this.#log = log
    this.#first = this.#check()
    this.#timer = setInterval(() => { this.#check().catch(() => {}) }, POLICY_CHECK_INTERVAL_MS).unref()
  }

  /** Why this replica must not take traffic, as of the last check (the first one is awaited). */
  async problem (): Promise<string | undefined> {
    await this.#first
    return this.#problem
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  async #check (): Promise<void> {
    const problem = await readProblem(this.#redis)
    if (problem === this.#problem) return
    if (problem) this.#log.error(`not ready: ${problem}`)
    else this.#log.info('ready: Redis evicts no keys (maxmemory-policy noeviction, or no maxmemory)')
    this.#problem = problem
  }
}
