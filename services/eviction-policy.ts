// Whether Redis may evict the store's keys. A user's index (sess:u:{user}) is touched only at login and listing,
// so an evicting Redis drops it long before the sessions it lists: "log out everywhere" and the per-user cap then
// miss those sessions, and /sessions calls them gone while they still open the site. Only a Redis that never
// evicts is safe: maxmemory-policy noeviction (a full Redis then refuses writes, see session-store/scripts.ts), or
// no maxmemory at all. volatile-* would spare a key without a TTL, but the index needs its TTL so as not to leak.
// Read with INFO, not CONFIG GET: managed Redis (ElastiCache) forbids CONFIG; on a cluster, from every primary.
import { Cluster, type Redis } from 'ioredis'
import type { RedisClient } from './redis.ts'

/** How long a verdict serves readiness probes: a change made at run time shows within this long of the next probe. */
const POLICY_CHECK_INTERVAL_MS = 2000

/** What is wrong with this server's eviction settings for the store, from its INFO memory; undefined when nothing. */
function evictionProblem (info: string, where: string): string | undefined {
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1]
  const maxmemory = Number(/^maxmemory:(\d+)/m.exec(info)?.[1])
  if (policy === undefined || Number.isNaN(maxmemory)) return `INFO memory of ${where} does not say its maxmemory-policy`
  if (policy === 'noeviction' || maxmemory === 0) return undefined
  return `${where} has maxmemory-policy ${policy} (maxmemory ${maxmemory} bytes): it may evict a user's session index ` +
    'before the sessions, and "log out everywhere" and the per-user cap would then miss them. Set maxmemory-policy ' +
    'noeviction (ElastiCache: in the parameter group; its default is volatile-lru)'
}

/** The first problem found on any primary, or undefined when every one of them never evicts; throws when one cannot be read. */
async function readProblem (redis: RedisClient): Promise<string | undefined> {
  const servers: Array<[Redis, string]> = redis instanceof Cluster
    ? redis.nodes('master').map(node => [node, `the Redis primary ${node.options.host}:${node.options.port}`])
    : [[redis, 'the Redis primary']]
  if (servers.length === 0) throw new Error('no Redis Cluster primary known yet')
  const problems = await Promise.all(servers.map(async ([server, where]) => {
    const info = await server.info('memory').catch((err: Error) => {
      throw new Error(`cannot read the maxmemory-policy of ${where} (INFO memory): ${err.message}`)
    })
    return evictionProblem(info, where)
  }))
  return problems.find(problem => problem !== undefined)
}

interface Log { error: (message: string) => void, info: (message: string) => void }

/**
 * Reads the policy at start (so a refused setting is logged even where nothing probes readiness), then when readiness
 * asks, at most every POLICY_CHECK_INTERVAL_MS; one log line each time the verdict changes, not one per check. No timer
 * of its own: a background command at the moment a stopped replica resumes changes the order in which it sees a
 * request and that request's closed connection (the SIGSTOP case in test/e2e/hardening.test.ts).
 */
export class EvictionPolicyWatch {
  readonly #redis: RedisClient
  readonly #log: Log
  #verdict: Promise<string | undefined> | undefined
  #checkedAt = 0
  #problem: string | undefined
  /** Whether a verdict was ever read, not just an error. */
  #read = false

  constructor (redis: RedisClient, log: Log) {
    this.#redis = redis
    this.#log = log
    this.problem().catch(() => {})
  }

  /** Why this replica must not take traffic: undefined when every primary never evicts. */
  async problem (): Promise<string | undefined> {
    if (this.#verdict === undefined || performance.now() - this.#checkedAt >= POLICY_CHECK_INTERVAL_MS) {
      this.#checkedAt = performance.now()
      this.#verdict = this.#check()
    }
    return await this.#verdict
  }

  async #check (): Promise<string | undefined> {
    let problem: string | undefined
    try {
      problem = await readProblem(this.#redis)
      this.#read = true
    } catch (err) {
      // A policy does not change because one INFO timed out (a busy machine): the last verdict read stands.
      if (this.#read) return this.#problem
      problem = (err as Error).message
    }
    if (problem !== this.#problem) {
      if (problem) this.#log.error(`not ready: ${problem}`)
      else this.#log.info('ready: Redis evicts no keys (maxmemory-policy noeviction, or no maxmemory)')
      this.#problem = problem
    }
    return problem
  }
}
