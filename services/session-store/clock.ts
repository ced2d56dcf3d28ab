// Redis' clock as seen from a replica: the offset between Redis' TIME and this process' monotonic clock
// (performance.now()). Scripts compare a request's deadline with Redis' own time, so a replica whose wall clock is
// off by seconds still gets its deadlines right; and because the replica's side is monotonic, a step of its wall
// clock (NTP, `date -s`) changes nothing. A step of Redis' own clock shows as a script refusing a deadline it
// should have taken (store.ts): then the offset is learnt again at once (`relearn`).
import type { RedisClient } from '../redis.ts'

/** How often the offset is learnt again (in the background, on the next call after this long). */
const REFRESH_MS = 60_000

export class RedisClock {
  readonly #redis: RedisClient
  #offsetMs: number | undefined
  /** When the offset was last learnt, on the monotonic clock. */
  #learntAt = -Infinity
  /** Half the round trip of the TIME it was learnt from: how far off the offset may be. */
  #uncertaintyMs = 0
  #learning: Promise<number> | undefined

  constructor (redis: RedisClient) {
    this.#redis = redis
    // A new connection may be a new server (a failover, another cluster node): learn its clock again.
    redis.on('ready', () => { this.#learntAt = -Infinity })
  }

  /** How far off `toRedis` may be (half the round trip of the TIME it was learnt from). */
  get uncertaintyMs (): number {
    return this.#uncertaintyMs
  }

  /**
   * The Redis time (epoch ms) at the monotonic instant `monoMs` (a `performance.now()` value). The first call
   * waits for one TIME; after that the offset is known and refreshed in the background, so the hot path stays
   * one command.
   */
  async toRedis (monoMs: number): Promise<number> {
    return this.toRedisIfKnown(monoMs) ?? monoMs + await this.#learn()
  }

  /**
   * The same, without waiting: undefined only before the offset was first learnt (then `toRedis`). The hot path
   * takes this one, so that a request pays no extra await for a figure it already has.
   */
  toRedisIfKnown (monoMs: number): number | undefined {
    const known = this.#offsetMs
    if (known === undefined) return undefined
    if (performance.now() - this.#learntAt > REFRESH_MS) this.#learn().catch(() => {}) // the known offset serves meanwhile
    return monoMs + known
  }

  /** Redis' time now (epoch ms): what "now" means for every session, whatever this replica's own clock says. */
  async now (): Promise<number> {
    return await this.toRedis(performance.now())
  }

  /** Learns the offset again now (a script said it is wrong); calls made meanwhile share the one TIME. */
  async relearn (): Promise<void> {
    await this.#learn()
  }

  async #learn (): Promise<number> {
    this.#learning ??= (async () => {
      try {
        const sent = performance.now()
        const [seconds, micros] = await this.#redis.time()
        const received = performance.now()
        // Redis read its clock somewhere in the round trip: the middle is off by at most half of it.
        this.#offsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2
        this.#uncertaintyMs = (received - sent) / 2
        this.#learntAt = received
        return this.#offsetMs
      } finally {
        this.#learning = undefined
      }
    })()
    return await this.#learning
  }
}
