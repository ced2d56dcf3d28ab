// The session store's own API: one Redis hash per session, written field by field.
//
//   {prefix}{<session id>}   hash    user fields (JSON-encoded values) + @c created, @x absolute deadline
//   {prefix}u:{<user>}       zset    member: session id, score: that session's absolute deadline (+ slack)
//
// Reads slide the idle expiry in the same script that reads (one round trip); writes send only changed fields;
// counters use HINCRBY. fastify-adapter.ts plugs it into @fastify/session.
import { LoginConflictError, SessionStoreUnavailableError } from '../errors.ts'
import { connectionsFor, type RedisClient } from '../redis.ts'
import { RedisClock } from './clock.ts'
import { defineSessionCommands } from './commands.ts'
import { checkedKeyPrefix, CREATED_FIELD, DEADLINE_FIELD, endedKey, LAST_SEEN_FIELD, loginRequestKey, SESSION_ID, sessionHandle, sessionKey, userIndexKey } from './keys.ts'

export interface SessionStoreOptions {
  prefix: string
  idleTtlMs: number
  maxAgeMs: number
  /** The session field naming its user; sessions that have it are listed in that user's index. */
  userField?: string
  /**
   * Whether logins may be re-sent (loginSessionId is used, the balancer's request ids trusted): then a session ended
   * soon after its login leaves a marker that keeps the repeat from recreating it. Default false.
   */
  loginRetries?: boolean
  /** What names one user: two names with the same key share one index (default: the name itself). */
  userKey?: (user: string) => string
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
   * (`startedAt` arguments are on the monotonic clock, `performance.now()`: a wall clock step moves no deadline.)
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
 * How far Redis' clock may seem behind the replica's estimate before a script refuses as "not yet" (besides the
 * estimate's own uncertainty): the drift of two clocks between two learnings of the offset, far below any step.
 */
const CLOCK_SLACK_MS = 50

/** A script refused its window (scripts.ts): too late, or Redis' clock disagrees with the replica's estimate. */
function refusedWindow (err: unknown): boolean {
  const cause = err instanceof SessionStoreUnavailableError ? err.cause : err
  return cause instanceof Error && cause.message.startsWith('DEADLINE')
}

/**
 * How long a login's request id keeps naming its session: well past nginx's retries (proxy_next_upstream_timeout
 * 5 s), and never longer than the session itself could live.
 */
export const LOGIN_RETRY_WINDOW_MS = 15_000

/** LOGIN_ID's answer when the request id logged in another user: null, for the caller to refuse. */
function conflictAsNull (err: Error): null {
  if (err.message.startsWith('CONFLICT')) return null
  throw err
}

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
  readonly #userKey: (user: string) => string
  /** How long after its login an ended session is marked ended: 0 when no login is ever re-sent. */
  readonly #endedMarkerMs: number
  readonly #waitReplicas: number
  readonly #waitTimeoutMs: number
  readonly #observe: SessionStoreOptions['observe']
  readonly #maxPerUser: number
  readonly #writeWindowMs: number
  readonly #clock: RedisClock

  constructor (redis: RedisClient, options: SessionStoreOptions) {
    this.#redis = redis
    this.#prefix = checkedKeyPrefix(options.prefix)
    this.#idleMs = options.idleTtlMs
    this.#maxAgeMs = options.maxAgeMs
    this.#userField = options.userField ?? 'user'
    this.#userKey = options.userKey ?? (user => user)
    this.#endedMarkerMs = options.loginRetries === true ? LOGIN_RETRY_WINDOW_MS : 0
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
    return userIndexKey(this.#prefix, this.#userKey(user))
  }

  /**
   * Reads a live session and slides its idle expiry, in one round trip; with `increment`, also adds 1 to that
   * counter field in the same script. Null when absent or expired.
   */
  async load (sessionId: string, increment?: string, startedAt = performance.now()): Promise<SessionFields | null> {
    if (!SESSION_ID.test(sessionId)) return null
    const key = this.key(sessionId)
    const flat = await this.#run(startedAt, async window => await this.#call('load', increment
      ? this.#redis.sessionLoad(key, window, this.#idleMs, increment)
      : this.#redis.sessionLoad(key, window, this.#idleMs)))
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
   * same request id: the first attempt records its fresh id under that request id (for that user), and a repeat
   * gets that id back, so it writes the same session (see #create) instead of a second one. The same request id
   * for another user is a LoginConflictError. Remembered no longer than the session could expire by itself, so
   * that only an explicit end (the ended marker, see DESTROY) must keep a repeat from recreating it.
   */
  async loginSessionId (requestId: string, fresh: string, user: string, startedAt = performance.now()): Promise<string> {
    // A script like every write: a login refused for a slow or full Redis leaves no record behind either.
    const id = await this.#run(startedAt, async window => await this.#call('login_id', this.#redis.sessionLoginId(
      loginRequestKey(this.#prefix, requestId), window, fresh, Math.min(LOGIN_RETRY_WINDOW_MS, this.#idleMs, this.#maxAgeMs), user)
      .catch(conflictAsNull)))
    if (id === null) throw new LoginConflictError()
    return id
  }

  /** Forgets the request-id record of a login that was refused (see loginSessionId): it leaves nothing behind. */
  async forgetLoginSessionId (requestId: string, sessionId: string, startedAt = performance.now()): Promise<void> {
    await this.#run(startedAt, async window =>
      await this.#call('login_id', this.#redis.sessionLoginIdForget(loginRequestKey(this.#prefix, requestId), window, sessionId)))
  }

  /**
   * Writes a new session (after its user's index entry, so that no session escapes "log out everywhere").
   * `startedAt` (`performance.now()`): when the request began; its writes refuse to run much later.
   */
  async create (sessionId: string, fields: SessionFields, startedAt = performance.now()): Promise<void> {
    const encoded = encodeFields(fields)
    await this.#run(startedAt, async window => await this.#create(sessionId, encoded, window))
  }

  /**
   * Writes what changed since `before` (the fields as read), or the whole session when it is new (`before`
   * null). A session ended meanwhile is not brought back.
   */
  async write (sessionId: string, before: EncodedFields | null, after: EncodedFields, startedAt = performance.now()): Promise<void> {
    await this.#run(startedAt, async window => await (before ? this.#patch(sessionId, before, after, window) : this.#create(sessionId, after, window)))
  }

  /** Adds 1 (or `by`) to a counter field atomically. Null when the session is gone: it is never resurrected. */
  async increment (sessionId: string, field: string, by = 1, startedAt = performance.now()): Promise<number | null> {
    if (!SESSION_ID.test(sessionId)) return null
    return await this.#run(startedAt, async window => await this.#call('increment', this.#redis.sessionIncrement(this.key(sessionId), window, field, by)))
  }

  /** Redis' time now (epoch ms), the clock every session's times are on: for pages and cookies, not this replica's. */
  async now (): Promise<number> {
    return Math.floor(await this.#clock.now().catch(err => { throw new SessionStoreUnavailableError({ cause: err }) }))
  }

  /**
   * Throws unless this replica can serve sessions now: the cheapest script, sent as a request's is (its window
   * from the learnt clock), on a key no session can have ('ready' is no session id). For readiness.
   */
  async check (): Promise<void> {
    await this.#run(performance.now(), async window => await this.#redis.sessionLoad(this.key('ready'), window, this.#idleMs))
  }

  /** Ends a session and drops it from its user's index. */
  async destroy (sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) return
    const user = await this.#run(performance.now(), async window => await this.#call('destroy', this.#destroyScript(sessionId, window)))
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
    const ids = await this.#run(performance.now(), async window => await this.#call('list', this.#redis.sessionIndexList(indexKey, window, this.#maxPerUser)))
    if (ids.length === 0) return []
    // One command per key (sessions live in different hash slots), all sent at once.
    const replies = await this.#call('list', Promise.all(ids.map(async id => await Promise.all([
      this.#redis.hmget(this.key(id), CREATED_FIELD, DEADLINE_FIELD, LAST_SEEN_FIELD, this.#userField, ...fieldNames),
      this.#redis.pexpiretime(this.key(id))
    ]))))
    const live: Array<SessionSummary & { id: string }> = []
    const stale: string[] = []
    ids.forEach((id, i) => {
      const [values, idleEnd] = replies[i]!
      const [created, deadline, seen, owner, ...rest] = (values ?? []) as Array<string | null>
      // A session of another user can only be here if a user field was changed in place: not this user's.
      if (!created || owner == null || this.#userKey(decode(owner) as string) !== this.#userKey(user)) {
        stale.push(id)
        return
      }
      const fields: SessionFields = {}
      fieldNames.forEach((name, j) => { if (rest[j] != null) fields[name] = decode(rest[j] as string) })
      const createdAt = Number(created)
      // The key expires idle-time after the last visit, or at the deadline when that comes first: then the last
      // visit wrote when it was (scripts.ts).
      const lastSeenAt = Math.max(createdAt, Number(idleEnd) - this.#idleMs, Number(seen ?? 0))
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
      const ids = await this.#run(performance.now(), async window => await this.#call('destroy_all', this.#redis.sessionIndexList(indexKey, window, batch)))
      // One key per command: sessions live in different hash slots. Sessions first, then their entries, so
      // that a failure half-way leaves no session without its entry.
      const deleted = await this.#run(performance.now(), async window =>
        await this.#call('destroy_all', Promise.all(ids.map(async id => await this.#destroyScript(id, window)))))
      if (ids.length > 0) await this.#call('destroy_all', this.#redis.zrem(indexKey, ...ids))
      written.push(...ids.map(id => this.key(id)))
      ended += deleted.filter(user => user !== null).length
      if (ids.length < batch) break
    }
    await this.#replicated(written)
    return ended
  }

  // ---- internals -----------------------------------------------------------------------------------------

  async #create (sessionId: string, fields: EncodedFields, window: string): Promise<void> {
    const flat = Object.entries(fields).flat()
    const user = fields[this.#userField]
    if (user === undefined) {
      await this.#call('create', this.#redis.sessionCreate(this.key(sessionId), endedKey(this.#prefix, sessionId), window, this.#idleMs, this.#maxAgeMs, ...flat))
    } else {
      // The index entry goes first, so that no session ever exists without it; the two keys live in different
      // hash slots, so they are two commands. On one connection they run in the order sent; a cluster may send
      // them to two nodes, so there the session waits for the index's answer (one more round trip, at login).
      // Both carry the same window: a refused index entry means a refused session (and a refused session's
      // entry is taken back, see #takeBack).
      const indexed = this.#indexAdd(decode(user) as string, sessionId, window)
      const create = async () => await this.#redis.sessionCreate(this.key(sessionId), endedKey(this.#prefix, sessionId), window, this.#idleMs,
        this.#maxAgeMs, ...flat)
        .catch(async (err: Error) => {
          // A repeated login whose session was ended meanwhile (logout, revoke): it stays ended.
          if (err.message.startsWith('ENDED')) throw new LoginConflictError()
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
        await this.#takeBack(sessionId, decode(user) as string, window, await settled)
        throw err
      }
      await this.#endEvicted(evicted, window)
    }
    await this.#replicated([this.key(sessionId), ...(user === undefined ? [] : [this.userIndexKey(decode(user) as string)])])
  }

  /**
   * A login refused half-way leaves nothing: its index entry goes when its session was refused, its session when
   * its entry was. The sessions its entry pushed out of the index end all the same (the cap holds). Within the
   * login's window (the scripts refuse later), so never after a repeat of it has written them again; should this
   * fail too, the login is refused anyway, and an entry without its session is pruned when listed.
   */
  async #takeBack (sessionId: string, user: string, window: string,
    [indexed, created]: [PromiseSettledResult<string[]>, PromiseSettledResult<number>]): Promise<void> {
    try {
      if (indexed.status === 'fulfilled') await this.#endEvicted(indexed.value, window)
      if (indexed.status === 'fulfilled' && created.status === 'rejected') {
        await this.#call('create', this.#redis.sessionIndexRemove(this.userIndexKey(user), window, sessionId))
      }
      if (indexed.status === 'rejected' && created.status === 'fulfilled') {
        // No ended marker (retry window 0): this session was never answered to anyone, nothing can re-send it.
        await this.#call('create', this.#redis.sessionDestroy(this.key(sessionId), endedKey(this.#prefix, sessionId), window, this.#userField, 0))
      }
    } catch {}
  }

  async #indexAdd (user: string, sessionId: string, window: string): Promise<string[]> {
    return await this.#redis.sessionIndexAdd(this.userIndexKey(user), window, sessionId, INDEX_SLACK_MS, this.#maxAgeMs,
      this.#maxPerUser, MAX_EVICTIONS_PER_LOGIN)
  }

  /**
   * Deletes the sessions a login pushed out of their user's index (one command per key: other hash slots).
   * Should that fail, the login is answered 503, and such a session lives on until its idle expiry, unlisted.
   */
  async #endEvicted (evicted: string[], window: string): Promise<void> {
    if (evicted.length > 0) await this.#call('evict', Promise.all(evicted.map(async id => await this.#destroyScript(id, window))))
  }

  /** Ends a session, leaving its ended marker when a re-sent login could still recreate it. Returns its user. */
  async #destroyScript (sessionId: string, window: string): Promise<string | null> {
    return await this.#redis.sessionDestroy(this.key(sessionId), endedKey(this.#prefix, sessionId), window, this.#userField, this.#endedMarkerMs)
  }

  /**
   * Sends a request's script(s) with its window in Redis' time (scripts.ts). A refusal that this replica's
   * monotonic clock contradicts (the request still has time) means Redis' clock and the learnt offset disagree:
   * Redis' clock stepped, or the offset is stale. Then the offset is learnt again and the script sent once more
   * with the window corrected, while the request still has time. Safe: a refused script has done nothing.
   */
  async #run<T> (startedAt: number, send: (window: string) => Promise<T>): Promise<T> {
    // Without an extra await once the offset is known (the hot path).
    const window = this.#windowIfKnown(startedAt) ?? await this.#window(startedAt)
    try {
      return await send(window)
    } catch (err) {
      if (!refusedWindow(err) || performance.now() >= startedAt + this.#writeWindowMs) throw err
      await this.#clock.relearn().catch(() => { throw err })
      return await send(await this.#window(startedAt))
    }
  }

  /** `#window` without waiting, once the clock's offset is known. */
  #windowIfKnown (startedAt: number): string | undefined {
    const redisTime = this.#clock.toRedisIfKnown(startedAt)
    return redisTime === undefined ? undefined : this.#windowAt(redisTime)
  }

  /** The window in Redis' time within which a script of a request that started at `startedAt` may run. */
  async #window (startedAt: number): Promise<string> {
    // Not a store operation of its own (metrics): a TIME only the first time, after a reconnect or a refusal.
    return this.#windowAt(await this.#clock.toRedis(startedAt).catch(err => { throw new SessionStoreUnavailableError({ cause: err }) }))
  }

  #windowAt (redisStart: number): string {
    const notBefore = Math.floor(redisStart - this.#clock.uncertaintyMs) - CLOCK_SLACK_MS
    return `${notBefore}:${Math.floor(redisStart) + this.#writeWindowMs}`
  }

  async #patch (sessionId: string, before: EncodedFields, after: EncodedFields, window: string): Promise<void> {
    const sets: string[] = []
    const deletes: string[] = []
    for (const [name, value] of Object.entries(after)) if (before[name] !== value) sets.push(name, value)
    for (const name of Object.keys(before)) if (!(name in after)) deletes.push(name)
    if (sets.length === 0 && deletes.length === 0) return
    const user = after[this.#userField]
    if (user !== undefined && user !== before[this.#userField]) {
      await this.#endEvicted(await this.#call('patch', this.#indexAdd(decode(user) as string, sessionId, window)), window)
    }
    await this.#call('patch', this.#redis.sessionPatch(this.key(sessionId), window, sets.length / 2, ...sets, ...deletes))
  }

  /**
   * Redis replicates asynchronously: a failover right after a login could lose the session, or bring back one
   * just ended. WAIT holds the answer until enough replicas have everything this connection wrote; on a cluster,
   * one WAIT per primary that got one of these keys, each over that node's connection.
   */
  async #replicated (keys: string[]): Promise<void> {
    if (this.#waitReplicas === 0) return
    const acks = await this.#call('wait', this.#waitEach(keys))
    const acknowledged = Math.min(...acks)
    if (acknowledged < this.#waitReplicas) {
      throw new SessionStoreUnavailableError({ cause: new Error(`${acknowledged} of ${this.#waitReplicas} Redis replicas acknowledged the write`) })
    }
  }

  /**
   * One WAIT per connection these keys were written over. Async, so that a cluster client that no longer knows the
   * node of a slot (connectionsFor throws) fails the promise #call turns into a 503, like any other Redis failure.
   */
  async #waitEach (keys: string[]): Promise<number[]> {
    return await Promise.all(connectionsFor(this.#redis, keys).map(async connection => await connection.wait(this.#waitReplicas, this.#waitTimeoutMs)))
  }

  async #call<T> (operation: string, pending: Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const value = await pending
      this.#observe?.(operation, 'ok', (performance.now() - started) / 1000)
      return value
    } catch (err) {
      this.#observe?.(operation, 'error', (performance.now() - started) / 1000)
      throw err instanceof SessionStoreUnavailableError || err instanceof LoginConflictError ? err : new SessionStoreUnavailableError({ cause: err })
    }
  }
}
