// The session store's own API: one Redis hash per session, written field by field.
//
//   {prefix}{<session id>}   hash    user fields (JSON-encoded values) + @c created, @x absolute deadline
//   {prefix}u:{<user>}       zset    member: session id, score: that session's absolute deadline (+ slack)
//
// Reads slide the idle expiry in the same script that reads (one round trip); writes send only changed fields;
// counters use HINCRBY. fastify-adapter.ts plugs it into @fastify/session.
import { SessionStoreUnavailableError } from '../errors.ts'
import { connectionsFor, type RedisClient } from '../redis.ts'
import { RedisClock } from './clock.ts'
import { defineSessionCommands } from './commands.ts'
import { CREATED_FIELD, DEADLINE_FIELD, loginRequestKey, SESSION_ID, sessionHandle, sessionKey, userIndexKey } from './keys.ts'

export interface SessionStoreOptions {
  prefix: string
  idleTtlMs: number
  maxAgeMs: number
  /** The session field naming its user; sessions that have it are listed in that user's index. */
  userField?: string
  /** Creating and ending sessions succeed only once this many replicas have the change (Redis WAIT). */
  waitReplicas?: number
  waitTimeoutMs?: number
  /** Told of every round trip to Redis: the store operation it serves, its outcome and duration (metrics). */
  observe?: (operation: string, outcome: 'ok' | 'error', seconds: number) => void
  /** The most live sessions a user may have: a login beyond it ends the oldest. */
  maxPerUser?: number
  /**
   * How long after its request started a write may still run in Redis; past it, the script refuses. At most
   * the Redis command timeout, so that a request answered 503 for a slow Redis never writes later.
   */
  writeWindowMs?: number
}

export type SessionFields = Record<string, unknown>
/** Field values as stored: JSON text. */
export type EncodedFields = Record<string, string>

export interface SessionSummary {
  /** A public name for the session (see keys.ts): the id itself never leaves the server. */
  handle: string
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  fields: SessionFields
}

/** A deadline slack for index entries: the index entry is written just before its session, so it must outlive it. */
const INDEX_SLACK_MS = 1000
/** Sessions ended per login when an index holds more than the cap (grown under an earlier, larger cap). */
const MAX_EVICTIONS_PER_LOGIN = 100
/** Sessions ended per round trip by "log out everywhere". */
const DESTROY_BATCH = 100

/**
 * How long a login's request id keeps naming its session: well past nginx's retries (proxy_next_upstream_timeout
 * 5 s), and never longer than the session itself could live.
 */
const LOGIN_RETRY_WINDOW_MS = 15_000

function encode (value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

function decode (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/** An object's own enumerable fields, encoded; `cookie` is @fastify/session's, not the session's. */
export function encodeFields (session: object): EncodedFields {
  const out: EncodedFields = {}
  for (const [key, value] of Object.entries(session)) {
    if (key === 'cookie' || value === undefined) continue
    if (key.startsWith('@')) throw new Error(`session field names may not start with "@": ${key}`)
    out[key] = encode(value)
  }
  return out
}

export class RedisSessionStore {
  readonly #redis: RedisClient
  readonly #prefix: string
  readonly #idleMs: number
  readonly #maxAgeMs: number
  readonly #userField: string
  readonly #waitReplicas: number
  readonly #waitTimeoutMs: number
  readonly #observe: SessionStoreOptions['observe']
  readonly #maxPerUser: number
  readonly #writeWindowMs: number
  readonly #clock: RedisClock

  constructor (redis: RedisClient, options: SessionStoreOptions) {
    this.#redis = redis
    this.#prefix = options.prefix
    this.#idleMs = options.idleTtlMs
    this.#maxAgeMs = options.maxAgeMs
    this.#userField = options.userField ?? 'user'
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 250
    this.#observe = options.observe
    this.#maxPerUser = options.maxPerUser ?? 50
    this.#writeWindowMs = options.writeWindowMs ?? 450
    this.#clock = new RedisClock(redis)
    defineSessionCommands(redis)
  }

  key (sessionId: string): string {
    return sessionKey(this.#prefix, sessionId)
  }

  userIndexKey (user: string): string {
    return userIndexKey(this.#prefix, user)
  }

  /**
   * Reads a live session and slides its idle expiry, in one round trip; with `increment`, also adds 1 to that
   * counter field in the same script. Null when absent or expired.
   */
  async load (sessionId: string, increment?: string, startedAt = Date.now()): Promise<SessionFields | null> {
    if (!SESSION_ID.test(sessionId)) return null
    const key = this.key(sessionId)
    const deadline = this.#deadlineIfKnown(startedAt) ?? await this.#deadline(startedAt)
    const flat = await this.#call('load', increment
      ? this.#redis.sessionLoad(key, deadline, this.#idleMs, increment)
      : this.#redis.sessionLoad(key, deadline, this.#idleMs))
    if (flat === null) return null
    const fields: SessionFields = {}
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i] as string
      if (name.charCodeAt(0) !== 64 /* @: the store's own fields */) fields[name] = decode(flat[i + 1] as string)
    }
    return fields
  }

  /**
   * The id of the session a login creates. nginx re-sends a login whose replica died before answering, with the
   * same request id: the first attempt records its fresh id under that request id, and a repeat gets that
   * id back, so it writes the same session (see #create) instead of a second one.
   */
  async loginSessionId (requestId: string, fresh: string, startedAt = Date.now()): Promise<string> {
    // A script like every write: a login refused for a slow or full Redis leaves no record behind either.
    return await this.#call('login_id', this.#redis.sessionLoginId(loginRequestKey(this.#prefix, requestId),
      await this.#deadline(startedAt), fresh, Math.min(LOGIN_RETRY_WINDOW_MS, this.#maxAgeMs)))
  }

  /** Forgets the request-id record of a login that was refused (see loginSessionId): it leaves nothing behind. */
  async forgetLoginSessionId (requestId: string, sessionId: string, startedAt = Date.now()): Promise<void> {
    await this.#call('login_id', this.#redis.sessionLoginIdForget(loginRequestKey(this.#prefix, requestId), await this.#deadline(startedAt), sessionId))
  }

  /**
   * Writes a new session (after its user's index entry, so that no session escapes "log out everywhere").
   * `startedAt` (this replica's epoch ms): when the request began; its writes refuse to run much later.
   */
  async create (sessionId: string, fields: SessionFields, startedAt = Date.now()): Promise<void> {
    await this.#create(sessionId, encodeFields(fields), await this.#deadline(startedAt))
  }

  /**
   * Writes what changed since `before` (the fields as read), or the whole session when it is new (`before`
   * null). A session ended meanwhile is not brought back.
   */
  async write (sessionId: string, before: EncodedFields | null, after: EncodedFields, startedAt = Date.now()): Promise<void> {
    const deadline = await this.#deadline(startedAt)
    await (before ? this.#patch(sessionId, before, after, deadline) : this.#create(sessionId, after, deadline))
  }

  /** Adds 1 (or `by`) to a counter field atomically. Null when the session is gone: it is never resurrected. */
  async increment (sessionId: string, field: string, by = 1, startedAt = Date.now()): Promise<number | null> {
    if (!SESSION_ID.test(sessionId)) return null
    return await this.#call('increment', this.#redis.sessionIncrement(this.key(sessionId), await this.#deadline(startedAt), field, by))
  }

  /** Ends a session and drops it from its user's index. */
  async destroy (sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) return
    const user = await this.#call('destroy', this.#redis.sessionDestroy(this.key(sessionId), await this.#deadline(Date.now()), this.#userField))
    const indexKey = user === null ? undefined : this.userIndexKey(decode(user) as string)
    if (indexKey) await this.#call('destroy', this.#redis.zrem(indexKey, sessionId))
    await this.#replicated([this.key(sessionId), ...(indexKey ? [indexKey] : [])])
  }

  /**
   * The user's live sessions, oldest first; prunes index entries whose session is gone. At most the cap
   * (the newest), whatever the index holds: the answer and the commands it takes stay bounded.
   */
  async listForUser (user: string, fieldNames: string[] = []): Promise<Array<SessionSummary & { id: string }>> {
    const indexKey = this.userIndexKey(user)
    const ids = await this.#call('list', this.#redis.sessionIndexList(indexKey, await this.#deadline(Date.now()), this.#maxPerUser))
    if (ids.length === 0) return []
    // One command per key (sessions live in different hash slots), all sent at once.
    const replies = await this.#call('list', Promise.all(ids.map(async id => await Promise.all([
      this.#redis.hmget(this.key(id), CREATED_FIELD, DEADLINE_FIELD, this.#userField, ...fieldNames),
      this.#redis.pexpiretime(this.key(id))
    ]))))
    const live: Array<SessionSummary & { id: string }> = []
    const stale: string[] = []
    ids.forEach((id, i) => {
      const [values, idleEnd] = replies[i]!
      const [created, deadline, owner, ...rest] = (values ?? []) as Array<string | null>
      // A session of another user can only be here if a user field was changed in place: not this user's.
      if (!created || owner == null || decode(owner) !== user) {
        stale.push(id)
        return
      }
      const fields: SessionFields = {}
      fieldNames.forEach((name, j) => { if (rest[j] != null) fields[name] = decode(rest[j] as string) })
      const createdAt = Number(created)
      // The key expires idle-time after the last visit (or at the deadline, when that comes first: then this is
      // a lower bound).
      const lastSeenAt = Math.max(createdAt, Number(idleEnd) - this.#idleMs)
      live.push({ id, handle: sessionHandle(id), createdAt, lastSeenAt, expiresAt: Number(deadline), fields })
    })
    if (stale.length > 0) await this.#call('list', this.#redis.zrem(indexKey, ...stale))
    return live.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** Ends the user's session with this handle. False when the user has no such session. */
  async revoke (user: string, handle: string): Promise<boolean> {
    const sessions = await this.listForUser(user)
    const target = sessions.find(s => s.handle === handle)
    if (!target) return false
    await this.destroy(target.id)
    return true
  }

  /**
   * Ends every session of the user ("log out everywhere"), in bounded batches: the index holds no more than
   * the cap, so one batch, unless it grew under an earlier, larger cap. Returns how many ended.
   */
  async destroyAllForUser (user: string): Promise<number> {
    const indexKey = this.userIndexKey(user)
    const batch = Math.max(this.#maxPerUser, DESTROY_BATCH)
    let ended = 0
    const written = [indexKey]
    for (;;) {
      const ids = await this.#call('destroy_all', this.#redis.sessionIndexList(indexKey, await this.#deadline(Date.now()), batch))
      // One key per command: sessions live in different hash slots. Sessions first, then their entries, so
      // that a failure half-way leaves no session without its entry.
      const deleted = await this.#call('destroy_all', Promise.all(ids.map(async id => await this.#redis.del(this.key(id)))))
      if (ids.length > 0) await this.#call('destroy_all', this.#redis.zrem(indexKey, ...ids))
      written.push(...ids.map(id => this.key(id)))
      ended += deleted.filter(n => n === 1).length
      if (ids.length < batch) break
    }
    await this.#replicated(written)
    return ended
  }

  // ---- internals -----------------------------------------------------------------------------------------

  async #create (sessionId: string, fields: EncodedFields, deadline: number): Promise<void> {
    const flat = Object.entries(fields).flat()
    const user = fields[this.#userField]
    if (user === undefined) {
      await this.#call('create', this.#redis.sessionCreate(this.key(sessionId), deadline, this.#idleMs, this.#maxAgeMs, ...flat))
    } else {
      // The index entry goes first, so that no session ever exists without it; the two keys live in different
      // hash slots, so they are two commands. On one connection they run in the order sent; a cluster may send
      // them to two nodes, so there the session waits for the index's answer (one more round trip, at login).
      // Both carry the same deadline: a refused index entry means a refused session (and a refused session's
      // entry is taken back, see #takeBack).
      const indexed = this.#indexAdd(decode(user) as string, sessionId, deadline)
      const create = async () => await this.#redis.sessionCreate(this.key(sessionId), deadline, this.#idleMs, this.#maxAgeMs, ...flat)
        .catch(async (err: Error) => {
          // A repeated login (same request id, so same id) finding what its first attempt wrote for the same user: done.
          if (!err.message.includes('session id already in use') || await this.#redis.hget(this.key(sessionId), this.#userField) !== user) throw err
          return 0
        })
      const created = this.#redis.isCluster ? indexed.then(create) : create()
      // Both awaited even when one fails: a full Redis can refuse the second after the first filled it, and what
      // the first wrote is then taken back.
      const settled = Promise.allSettled([indexed, created])
      let evicted: string[]
      try {
        [evicted] = await this.#call('create', Promise.all([indexed, created]))
      } catch (err) {
        await this.#takeBack(sessionId, decode(user) as string, deadline, await settled)
        throw err
      }
      await this.#endEvicted(evicted)
    }
    await this.#replicated([this.key(sessionId), ...(user === undefined ? [] : [this.userIndexKey(decode(user) as string)])])
  }

  /**
   * A login refused half-way leaves nothing: its index entry goes when its session was refused, its session when
   * its entry was. The sessions its entry pushed out of the index end all the same (the cap holds). By the login's
   * deadline (the scripts refuse later), so never after a repeat of it has written them again; should this fail
   * too, the login is refused anyway, and an entry without its session is pruned when listed.
   */
  async #takeBack (sessionId: string, user: string, deadline: number,
    [indexed, created]: [PromiseSettledResult<string[]>, PromiseSettledResult<number>]): Promise<void> {
    try {
      if (indexed.status === 'fulfilled') await this.#endEvicted(indexed.value)
      if (indexed.status === 'fulfilled' && created.status === 'rejected') {
        await this.#call('create', this.#redis.sessionIndexRemove(this.userIndexKey(user), deadline, sessionId))
      }
      if (indexed.status === 'rejected' && created.status === 'fulfilled') {
        await this.#call('create', this.#redis.sessionDestroy(this.key(sessionId), deadline, this.#userField))
      }
    } catch {}
  }

  async #indexAdd (user: string, sessionId: string, deadline: number): Promise<string[]> {
    return await this.#redis.sessionIndexAdd(this.userIndexKey(user), deadline, sessionId, INDEX_SLACK_MS, this.#maxAgeMs,
      this.#maxPerUser, MAX_EVICTIONS_PER_LOGIN)
  }

  /**
   * Deletes the sessions a login pushed out of their user's index (one command per key: other hash slots).
   * Should that fail, the login is answered 503, and such a session lives on until its idle expiry, unlisted.
   */
  async #endEvicted (evicted: string[]): Promise<void> {
    if (evicted.length > 0) await this.#call('evict', Promise.all(evicted.map(async id => await this.#redis.del(this.key(id)))))
  }

  /** `#deadline` without waiting, once the clock's offset is known (the hot path: no extra await). */
  #deadlineIfKnown (startedAt: number): number | undefined {
    const redisTime = this.#clock.toRedisIfKnown(startedAt)
    return redisTime === undefined ? undefined : Math.floor(redisTime) + this.#writeWindowMs
  }

  /** The Redis time past which a write of a request that started at `startedAt` must not run. */
  async #deadline (startedAt: number): Promise<number> {
    // Not a store operation of its own (metrics): a TIME only the first time, or after a reconnect.
    const redisTime = await this.#clock.toRedis(startedAt).catch(err => { throw new SessionStoreUnavailableError({ cause: err }) })
    return Math.floor(redisTime) + this.#writeWindowMs
  }

  async #patch (sessionId: string, before: EncodedFields, after: EncodedFields, deadline: number): Promise<void> {
    const sets: string[] = []
    const deletes: string[] = []
    for (const [name, value] of Object.entries(after)) if (before[name] !== value) sets.push(name, value)
    for (const name of Object.keys(before)) if (!(name in after)) deletes.push(name)
    if (sets.length === 0 && deletes.length === 0) return
    const user = after[this.#userField]
    if (user !== undefined && user !== before[this.#userField]) {
      await this.#endEvicted(await this.#call('patch', this.#indexAdd(decode(user) as string, sessionId, deadline)))
    }
    await this.#call('patch', this.#redis.sessionPatch(this.key(sessionId), deadline, sets.length / 2, ...sets, ...deletes))
  }

  /**
   * Redis replicates asynchronously: a failover right after a login could lose the session, or bring back one
   * just ended. WAIT holds the answer until enough replicas have everything this connection wrote; on a cluster,
   * one WAIT per primary that got one of these keys, each over that node's connection.
   */
  async #replicated (keys: string[]): Promise<void> {
    if (this.#waitReplicas === 0) return
    const acks = await this.#call('wait', Promise.all(connectionsFor(this.#redis, keys)
      .map(async connection => await connection.wait(this.#waitReplicas, this.#waitTimeoutMs))))
    const acknowledged = Math.min(...acks)
    if (acknowledged < this.#waitReplicas) {
      throw new SessionStoreUnavailableError({ cause: new Error(`${acknowledged} of ${this.#waitReplicas} Redis replicas acknowledged the write`) })
    }
  }

  async #call<T> (operation: string, pending: Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const value = await pending
      this.#observe?.(operation, 'ok', (performance.now() - started) / 1000)
      return value
    } catch (err) {
      this.#observe?.(operation, 'error', (performance.now() - started) / 1000)
      throw err instanceof SessionStoreUnavailableError ? err : new SessionStoreUnavailableError({ cause: err })
    }
  }
}
