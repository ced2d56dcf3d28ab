// Redis' clock as seen from a replica: the offset between the two, learnt from TIME. Scripts compare a request's
// deadline with Redis' own time, so a replica whose clock is off by seconds still gets its deadlines right.
import type { RedisClient } from '../redis.ts'

/** How often the offset is learnt again (in the background, on the next call after this long). */
const REFRESH_MS = 60_000

export class RedisClock {
  readonly #redis: RedisClient
  #offsetMs: number | undefined
  #learntAt = 0
  #learning: Promise<number> | undefined

  constructor (redis: RedisClient) {
    this.#redis = redis
    // A new connection may be a new server (a failover, another cluster node): learn its clock again.
    redis.on('ready', () => { this.#learntAt = 0 })
  }

  /**
   * The Redis time (epoch ms) that corresponds to this replica's `localMs`. The first call waits for one TIME;
   * after that the offset is known and refreshed in the background, so the hot path stays one command.
   */
  async toRedis (localMs: number): Promise<number> {
    return this.toRedisIfKnown(localMs) ?? localMs + await this.#learn()
  }

  /**
   * The same, without waiting: undefined only before the offset was first learnt (then `toRedis`). The hot path
   * takes this one, so that a request pays no extra await for a figure it already has.
   */
  toRedisIfKnown (localMs: number): number | undefined {
    const known = this.#offsetMs
    if (known === undefined) return undefined
    if (Date.now() - this.#learntAt > REFRESH_MS) this.#learn().catch(() => {}) // the known offset serves meanwhile
    return localMs + known
  }

  async #learn (): Promise<number> {
    this.#learning ??= (async () => {
      try {
        const sent = Date.now()
        const [seconds, micros] = await this.#redis.time()
        const received = Date.now()
        // Redis read its clock somewhere in the round trip: the middle is off by at most half of it.
        this.#offsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (sent + received) / 2
        this.#learntAt = received
        return this.#offsetMs
      } finally {
        this.#learning = undefined
      }
    })()
    return await this.#learning
  }
}
