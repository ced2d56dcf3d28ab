// The session store: one Redis hash per session, written field by field.
//
//   {prefix}{<session id>}   hash    user fields (JSON-encoded values) + @c created, @x absolute deadline
//   {prefix}u:{<user>}       zset    member: session id, score: that session's absolute deadline (+ slack)
//
// Reads slide the idle expiry in the same script that reads (one round trip); writes send only changed fields;
// counters use HINCRBY. It plugs into @fastify/session (get/set/destroy) and has its own API for the rest.
import { createHash } from 'node:crypto'
import type { Result } from 'ioredis'
import type { RedisClient } from './redis.ts'
import * as scripts from './session-scripts.ts'

export interface SessionStoreOptions {
  prefix: string
  idleTtlMs: number
  maxAgeMs: number
  /** The session field naming its user; sessions that have it are listed in that user's index. */
  userField?: string
  /** Creating and ending sessions succeed only once this many replicas have the change (Redis WAIT). */
  waitReplicas?: number
  waitTimeoutMs?: number
}

export type SessionFields = Record<string, unknown>

export interface SessionSummary {
  /** A public name for the session (a hash of its id): the id itself is a credential and never leaves the server. */
  handle: string
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  fields: SessionFields
}

/** A Redis failure or timeout: the request cannot be served now, and nothing was half-written. */
export class SessionStoreUnavailableError extends Error {
  override name = 'SessionStoreUnavailableError'
  statusCode = 503
  code = 'SESSION_STORE_UNAVAILABLE'
  constructor (cause: unknown) {
    super('The session store is unavailable; please try again shortly', { cause })
  }
}

type Callback = (err?: unknown) => void
type Encoded = Record<string, string>

// The fields as last read from or written to Redis, kept on the session object: a later save sends only the difference.
const kSnapshot = Symbol('session-store.snapshot')
interface Tracked { [kSnapshot]?: Encoded }

/** A request's wish that loading its session also count a visit (see `withIncrementOnLoad`). */
export interface LoadIncrement {
  field: string
  /** Set once the load has carried the increment: the loaded session then holds the new value. */
  applied: boolean
}

/** A deadline slack for index entries: the index entry is written just before its session, so it must outlive it. */
const INDEX_SLACK_MS = 1000

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sessionLoad(key: string, idleMs: number, increment?: string): Result<string[] | null, Context>
    sessionCreate(key: string, idleMs: number, maxAgeMs: number, ...fields: string[]): Result<number, Context>
    sessionPatch(key: string, setCount: number, ...fieldsThenDeletes: string[]): Result<number, Context>
    sessionIncrement(key: string, field: string, by: number): Result<number | null, Context>
    sessionDestroy(key: string, userField: string): Result<string | null, Context>
    sessionIndexAdd(key: string, sessionId: string, slackMs: number, maxAgeMs: number): Result<number, Context>
    sessionIndexList(key: string): Result<string[], Context>
  }
}

export function defineSessionCommands (redis: RedisClient): void {
  const define = (name: string, lua: string) => redis.defineCommand(name, { numberOfKeys: 1, lua })
  define('sessionLoad', scripts.LOAD)
  define('sessionCreate', scripts.CREATE)
  define('sessionPatch', scripts.PATCH)
  define('sessionIncrement', scripts.INCREMENT)
  define('sessionDestroy', scripts.DESTROY)
  define('sessionIndexAdd', scripts.INDEX_ADD)
  define('sessionIndexList', scripts.INDEX_LIST)
}

/** The session id is base64url from @fastify/session; anything else never becomes part of a key. */
const SESSION_ID = /^[A-Za-z0-9_-]{22,64}$/

export function sessionHandle (sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url').slice(0, 16)
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

/** The session's own enumerable fields, encoded: @fastify/session keeps `cookie` beside them. */
function encodeFields (session: object): Encoded {
  const out: Encoded = {}
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
  #incrementOnLoad: LoadIncrement | undefined

  constructor (redis: RedisClient, options: SessionStoreOptions) {
    this.#redis = redis
    this.#prefix = options.prefix
    this.#idleMs = options.idleTtlMs
    this.#maxAgeMs = options.maxAgeMs
    this.#userField = options.userField ?? 'user'
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 250
    defineSessionCommands(redis)
  }

  /** The session's key: its id in a hash tag, so all its keys share one Redis Cluster slot. */
  key (sessionId: string): string {
    return `${this.#prefix}{${sessionId}}`
  }

  userIndexKey (user: string): string {
    return `${this.#prefix}u:{${user}}`
  }

  // ---- the store's own API ---------------------------------------------------------------------------------

  /**
   * Reads a live session and slides its idle expiry, in one round trip; with `increment`, also adds 1 to that
   * counter field in the same script. Null when absent or expired.
   */
  async load (sessionId: string, increment?: string): Promise<SessionFields | null> {
    if (!SESSION_ID.test(sessionId)) return null
    const key = this.key(sessionId)
    const flat = await this.#call(increment
      ? this.#redis.sessionLoad(key, this.#idleMs, increment)
      : this.#redis.sessionLoad(key, this.#idleMs))
    if (flat === null) return null
    const fields: SessionFields = {}
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i] as string
      if (name.charCodeAt(0) !== 64 /* @ */) fields[name] = decode(flat[i + 1] as string)
    }
    return fields
  }

  /** Writes a new session (after its user's index entry, so that no session escapes "log out everywhere"). */
  async create (sessionId: string, fields: SessionFields): Promise<void> {
    await this.#create(sessionId, encodeFields(fields))
  }

  /** Adds 1 (or `by`) to a counter field atomically. Null when the session is gone: it is never resurrected. */
  async increment (sessionId: string, field: string, by = 1): Promise<number | null> {
    if (!SESSION_ID.test(sessionId)) return null
    return await this.#call(this.#redis.sessionIncrement(this.key(sessionId), field, by))
  }

  /** Ends a session and drops it from its user's index. */
  async destroy (sessionId: string): Promise<void>
  destroy (sessionId: string, callback: Callback): void
  destroy (sessionId: string, callback?: Callback): Promise<void> | void {
    const done = this.#destroy(sessionId)
    if (!callback) return done
    done.then(() => callback(), callback)
  }

  /** The user's live sessions, oldest first; prunes index entries whose session is gone. */
  async listForUser (user: string, fieldNames: string[] = []): Promise<Array<SessionSummary & { id: string }>> {
    const indexKey = this.userIndexKey(user)
    const ids = await this.#call(this.#redis.sessionIndexList(indexKey))
    if (ids.length === 0) return []
    // One command per key (sessions live in different hash slots), all sent at once.
    const replies = await this.#call(Promise.all(ids.map(async id => await Promise.all([
      this.#redis.hmget(this.key(id), '@c', '@x', this.#userField, ...fieldNames),
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
    if (stale.length > 0) await this.#call(this.#redis.zrem(indexKey, ...stale))
    return live.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** Ends the user's session with this handle. False when the user has no such session. */
  async revoke (user: string, handle: string): Promise<boolean> {
    const sessions = await this.listForUser(user)
    const target = sessions.find(s => s.handle === handle)
    if (!target) return false
    await this.#destroy(target.id)
    return true
  }

  /** Ends every session of the user ("log out everywhere"). Returns how many ended. */
  async destroyAllForUser (user: string): Promise<number> {
    const indexKey = this.userIndexKey(user)
    const ids = await this.#call(this.#redis.sessionIndexList(indexKey))
    // One key per command: sessions live in different hash slots.
    const deleted = await this.#call(Promise.all(ids.map(async id => await this.#redis.del(this.key(id)))))
    if (ids.length > 0) await this.#call(this.#redis.zrem(indexKey, ...ids))
    await this.#replicated()
    return deleted.filter(n => n === 1).length
  }

  // ---- @fastify/session's store interface ----------------------------------------------------------------

  // `never`: @fastify/session types its callback with its Session class, which the plain fields become.
  get (sessionId: string, callback: (err: unknown, session?: never) => void): void {
    const increment = this.#incrementOnLoad
    this.#incrementOnLoad = undefined
    if (increment) increment.applied = true
    this.load(sessionId, increment?.field).then(session => callback(null, session as never), callback)
  }

  /**
   * @fastify/session's `get` receives only an id, so a route cannot ask it to count a visit. It does call `get`
   * synchronously from its onRequest hook, though: a hook registered just before it runs that hook inside `fn`,
   * and a load started there carries the increment (one round trip instead of two). `applied` says whether it
   * did; when it did not, the caller increments on its own.
   */
  withIncrementOnLoad (increment: LoadIncrement, fn: () => void): void {
    this.#incrementOnLoad = increment
    try {
      fn()
    } finally {
      this.#incrementOnLoad = undefined
    }
  }

  /**
   * Called by @fastify/session when a session is new or changed. A session read from Redis carries the
   * snapshot taken by `track`, so only the difference is written; a new one is created whole.
   */
  set (sessionId: string, session: object, callback: Callback): void {
    const fields = encodeFields(session)
    const snapshot = (session as Tracked)[kSnapshot]
    const write = snapshot ? this.#patch(sessionId, snapshot, fields) : this.#create(sessionId, fields)
    write.then(() => {
      (session as Tracked)[kSnapshot] = fields
      callback()
    }, callback)
  }

  /** Remembers what a session read from Redis held, so that `set` can write only what changes. */
  track (session: object): void {
    (session as Tracked)[kSnapshot] = encodeFields(session)
  }

  // ---- internals -----------------------------------------------------------------------------------------

  async #create (sessionId: string, fields: Encoded): Promise<void> {
    const flat = Object.entries(fields).flat()
    const user = fields[this.#userField]
    if (user === undefined) {
      await this.#call(this.#redis.sessionCreate(this.key(sessionId), this.#idleMs, this.#maxAgeMs, ...flat))
    } else {
      // The index entry goes first, so that no session ever exists without it; the two keys live in different
      // hash slots, so they are two commands. On one connection they run in the order sent; a cluster may send
      // them to two nodes, so there the session waits for the index's answer (one more round trip, at login).
      const addToIndex = this.#redis.sessionIndexAdd(this.userIndexKey(decode(user) as string), sessionId, INDEX_SLACK_MS, this.#maxAgeMs)
      const create = async () => await this.#redis.sessionCreate(this.key(sessionId), this.#idleMs, this.#maxAgeMs, ...flat)
      await this.#call<unknown>(this.#redis.isCluster ? addToIndex.then(create) : Promise.all([addToIndex, create()]))
    }
    await this.#replicated()
  }

  async #patch (sessionId: string, before: Encoded, after: Encoded): Promise<void> {
    const sets: string[] = []
    const deletes: string[] = []
    for (const [name, value] of Object.entries(after)) if (before[name] !== value) sets.push(name, value)
    for (const name of Object.keys(before)) if (!(name in after)) deletes.push(name)
    if (sets.length === 0 && deletes.length === 0) return
    const user = after[this.#userField]
    if (user !== undefined && user !== before[this.#userField]) {
      await this.#call(this.#redis.sessionIndexAdd(this.userIndexKey(decode(user) as string), sessionId, INDEX_SLACK_MS, this.#maxAgeMs))
    }
    await this.#call(this.#redis.sessionPatch(this.key(sessionId), sets.length / 2, ...sets, ...deletes))
  }

  async #destroy (sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) return
    const user = await this.#call(this.#redis.sessionDestroy(this.key(sessionId), this.#userField))
    if (user !== null) await this.#call(this.#redis.zrem(this.userIndexKey(decode(user) as string), sessionId))
    await this.#replicated()
  }

  /**
   * Redis replicates asynchronously: a failover right after a login could lose the session, or bring back one
   * just ended. WAIT holds the answer until enough replicas have everything this connection wrote.
   */
  async #replicated (): Promise<void> {
    if (this.#waitReplicas === 0) return
    const acknowledged = await this.#call(this.#redis.wait(this.#waitReplicas, this.#waitTimeoutMs))
    if (acknowledged < this.#waitReplicas) {
      throw new SessionStoreUnavailableError(new Error(`${acknowledged} of ${this.#waitReplicas} Redis replicas acknowledged the write`))
    }
  }

  async #call<T> (pending: Promise<T>): Promise<T> {
    try {
      return await pending
    } catch (err) {
      throw err instanceof SessionStoreUnavailableError ? err : new SessionStoreUnavailableError(err)
    }
  }
}
