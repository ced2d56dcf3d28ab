// The store plugged into @fastify/session. Everything that leans on @fastify/session's internals is here, and
// test/app/fastify-adapter.test.ts fails if an upgrade breaks one of these assumptions:
//  1. it calls the store's `get` synchronously from its onRequest hook (so a hook registered just before it can
//     make the load count a visit: one round trip, see `withIncrementOnLoad`);
//  2. its hooks run in registration order with ours around them;
//  3. its onSend clears a cookie that differs from the id signed with the current secret unless the session
//     changed (so a cookie signed with an older secret is re-signed here instead);
//  4. `cookie` is the only enumerable field of a Session besides the user's own;
//  5. an error answer would save the session again while sending the error page (`discardSession`);
//  6. its onSend does nothing for a session read from Redis whose fields did not change, not saved during the request
//     and carrying a cookie signed with the current secret: so when this adapter has seen (by its own comparison)
//     that nothing changed, it takes the session off the request before that hook runs, and the hook's change hash
//     (a stable stringify and a SHA-256 of the whole session) is not paid;
//  7. `session.regenerate()` calls the store's `destroy` for the old id synchronously (so a login can tell the
//     adapter that the old session was never written, and no delete is sent for it: see `loginSession`).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { CachingCookieSigner } from './cookie-signer.ts'
import { encodeFields, type RedisSessionStore } from './store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: RedisSessionStore
  }
  interface FastifyContextConfig {
    /** A counter field this route adds 1 to: counted while the session loads, in the same round trip. */
    sessionIncrement?: string
  }
  interface FastifyRequest {
    sessionIncrement: LoadIncrement | null
    /** The id the next session made for this request takes (a login's, see `loginSession`); random when null. */
    nextSessionId: string | null
    /**
     * Log in: a new session with a new id, holding these fields of the current one; the old session deleted.
     * A login nginx re-sends gets the same new id (it is safe to run twice).
     */
    loginSession: (reply: FastifyReply, keep: string[]) => Promise<void>
  }
}

/** A request's wish that loading its session also count a visit. */
export interface LoadIncrement {
  field: string
  /** Set once the load has carried the increment: the loaded session then holds the new value. */
  applied: boolean
}

type Callback = (err?: unknown) => void

// The fields as last read from or written to Redis, kept on the session object: a later save sends only the
// difference, and an unchanged session is told from a changed one without hashing it.
const kSnapshot = Symbol('session-store.snapshot')
// When the request that saves the session started (performance.now()): its writes refuse to run long after (store.ts).
const kStartedAt = Symbol('session-store.started-at')
interface Tracked { [kSnapshot]?: Snapshot, [kStartedAt]?: number }

/** An object field as it was: its JSON, so that a later change made in place still shows. */
interface Json { json: string }
/** Primitive fields as they are (compared with ===), object fields as JSON. */
type Snapshot = Map<string, unknown>

/** The session's own fields: `cookie` is @fastify/session's, and an undefined field is no field (as in Redis). */
function * ownFields (session: object): Generator<[string, unknown]> {
  for (const key of Object.keys(session)) {
    if (key === 'cookie') continue
    const value = (session as Record<string, unknown>)[key]
    if (value !== undefined) yield [key, value]
  }
}

function snapshotOf (session: object): Snapshot {
  const snapshot: Snapshot = new Map()
  for (const [key, value] of ownFields(session)) {
    snapshot.set(key, typeof value === 'object' && value !== null ? { json: JSON.stringify(value) } satisfies Json : value)
  }
  return snapshot
}

/** Whether the session's fields differ from the snapshot: what @fastify/session's isModified() says, without a hash. */
function changedSince (session: object, snapshot: Snapshot): boolean {
  let fields = 0
  for (const [key, value] of ownFields(session)) {
    fields++
    if (!snapshot.has(key)) return true
    const was = snapshot.get(key)
    const same = typeof value === 'object' && value !== null
      ? typeof was === 'object' && was !== null && (was as Json).json === JSON.stringify(value)
      : was === value
    if (!same) return true
  }
  return fields !== snapshot.size
}

/** The snapshot as the store's encoded fields (only when a write needs them). */
function encodedSnapshot (snapshot: Snapshot): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of snapshot) out[key] = typeof value === 'object' && value !== null ? (value as Json).json : JSON.stringify(value) ?? 'null'
  return out
}

/** @fastify/session's store interface (get/set/destroy) over the store's own API. */
export class FastifySessionAdapter {
  readonly #store: RedisSessionStore
  readonly #cookieMaxAgeMs: number
  #incrementOnLoad: LoadIncrement | undefined
  /** The old id of a session being regenerated that was never written: nothing in Redis to delete. */
  #neverWritten: string | undefined

  constructor (store: RedisSessionStore, cookieMaxAgeMs: number) {
    this.#store = store
    this.#cookieMaxAgeMs = cookieMaxAgeMs
  }

  // `never`: @fastify/session types its callback with its Session class, which the plain fields become.
  get (sessionId: string, callback: (err: unknown, session?: never) => void): void {
    const increment = this.#incrementOnLoad
    this.#incrementOnLoad = undefined
    if (increment) increment.applied = true
    this.#store.load(sessionId, increment?.field).then(session => callback(null, session as never), callback)
  }

  /**
   * `get` receives only an id, so a route cannot ask it to count a visit. @fastify/session calls `get`
   * synchronously from its onRequest hook, though: a hook registered just before it runs that hook inside `fn`,
   * and a load started there carries the increment. `applied` says whether it did; when not, the route
   * increments on its own.
   */
  withIncrementOnLoad (increment: LoadIncrement, fn: () => void): void {
    this.#incrementOnLoad = increment
    try {
      fn()
    } finally {
      this.#incrementOnLoad = undefined
    }
  }

  /** Called for a new or changed session: a tracked one writes only its difference, a new one is created whole. */
  set (sessionId: string, session: object, callback: Callback): void {
    this.#save(sessionId, session as Tracked & { cookie?: { expires: Date | null } }).then(() => callback(), callback)
  }

  /** (The store's own API may save plain objects, without @fastify/session's cookie.) */
  async #save (sessionId: string, session: Tracked & { cookie?: { expires: Date | null } }): Promise<void> {
    const snapshot = session[kSnapshot]
    await this.#store.write(sessionId, snapshot ? encodedSnapshot(snapshot) : null, encodeFields(session), session[kStartedAt])
    // A new session's cookie (sent after this save) lasts as long as the session may, on the clock its deadline is
    // on: Redis', not this replica's (known by now: no round trip).
    if (!snapshot && session.cookie) session.cookie.expires = new Date(await this.#store.now() + this.#cookieMaxAgeMs)
    session[kSnapshot] = snapshotOf(session)
  }

  destroy (sessionId: string, callback: Callback): void {
    if (sessionId === this.#neverWritten) {
      this.#neverWritten = undefined
      return callback()
    }
    this.#store.destroy(sessionId).then(() => callback(), callback)
  }

  /**
   * `session.regenerate(keep)`, without deleting the old session when it was made by this request and never
   * written (a first login, with no cookie or an expired one): one round trip less. A session read from Redis is
   * always deleted, so an id planted before login is worthless after it.
   */
  async regenerate (session: FastifyRequest['session'], keep: string[]): Promise<void> {
    this.#neverWritten = this.changed(session) === undefined && !session.isSaved() ? session.sessionId : undefined
    try {
      await session.regenerate(keep)
    } finally {
      this.#neverWritten = undefined
    }
  }

  /** Remembers what a session read from Redis held, so that `set` can write only what changes. */
  track (session: object): void {
    (session as Tracked)[kSnapshot] = snapshotOf(session)
  }

  /** Whether a session read from Redis changed since; undefined for one that was not read (a new session). */
  changed (session: object): boolean | undefined {
    const snapshot = (session as Tracked)[kSnapshot]
    return snapshot && changedSince(session, snapshot)
  }
}

/** nginx's $request_id: 32 hex digits. Fastify's own ids (req-1, req-2, …) repeat across processes: never a key. */
const BALANCER_REQUEST_ID = /^[0-9a-f]{32}$/
/** Sent by nginx only (it overwrites whatever a client sends): proves that the request id is nginx's own. */
const BALANCER_SECRET_HEADER = 'x-balancer-secret'

/** 192 random bits, base64url: what @fastify/session's own generator makes. */
const randomSessionId = () => randomBytes(24).toString('base64url')

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Whether the request carries the balancer's secret (compared in constant time). */
function fromBalancer (request: FastifyRequest, secret: Buffer | undefined): boolean {
  const sent = request.headers[BALANCER_SECRET_HEADER]
  return secret !== undefined && typeof sent === 'string' && timingSafeEqual(digest(sent), secret)
}

/**
 * Makes a login safe to run twice: the new session's id. A login nginx re-sends (its replica died before
 * answering) carries the same request id and gets the same new session id as the first attempt, so a repeat
 * rewrites that one session instead of leaving a second one behind in the user's list. Request ids are not
 * secret (logs, the X-Request-Id header): only one that comes with nginx's secret counts, else anyone who can
 * reach a replica could replay it and be handed the user's session.
 */
async function chooseLoginSessionId (request: FastifyRequest, reply: FastifyReply, store: RedisSessionStore, secret: Buffer | undefined): Promise<void> {
  if (!BALANCER_REQUEST_ID.test(request.id) || !fromBalancer(request, secret)) return
  request.nextSessionId = await store.loginSessionId(request.id, randomSessionId(), request.session.user!, performance.now() - reply.elapsedTime)
}

/**
 * The first of several cookies of this name whose signature holds, if any. A browser sends every cookie that
 * matches (another path's, a sibling subdomain's), and @fastify/cookie keeps the first: a stale or planted one
 * placed first would hide the valid one, and the answer would even clear the user's cookie, logging them out.
 */
function firstValidCookie (header: string, name: string, signer: CachingCookieSigner): string | undefined {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue
    let value = pair.slice(eq + 1).trim()
    try {
      value = decodeURIComponent(value)
    } catch {} // kept as sent, as @fastify/cookie does
    if (signer.unsign(value).valid) return value
  }
}

/** An error answer never saves the session: @fastify/session would try again while sending the error page. */
export function discardSession (request: FastifyRequest): void {
  (request as { session?: unknown }).session = null
}

export interface SessionAdapterOptions {
  store: RedisSessionStore
  /** First signs, the rest still verify. */
  secrets: string[]
  cookieName: string
  cookieSecure: 'auto' | true
  /** How long the browser may keep the cookie; Redis enforces the idle expiry. */
  cookieMaxAgeMs: number
  /** What nginx sends in X-Balancer-Secret; unset: no request id is trusted, a re-sent login makes a second session. */
  balancerSecret?: string | undefined
}

export default fp<SessionAdapterOptions>(async function sessionAdapter (app, options) {
  const { store, cookieName } = options
  const adapter = new FastifySessionAdapter(store, options.cookieMaxAgeMs)
  const balancerSecret = options.balancerSecret === undefined ? undefined : digest(options.balancerSecret)
  app.decorate('sessions', store)
  await app.register(fastifyCookie)
  const signer = new CachingCookieSigner(options.secrets)
  // Runs after @fastify/cookie has parsed the header, before @fastify/session reads it. Only a header naming the
  // cookie twice is looked at again (one string search per request otherwise).
  app.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers.cookie
    const at = header?.indexOf(`${cookieName}=`) ?? -1
    if (at >= 0 && header!.lastIndexOf(`${cookieName}=`) !== at) {
      const valid = firstValidCookie(header!, cookieName, signer)
      if (valid !== undefined) request.cookies[cookieName] = valid
    }
    done()
  })

  // Runs just before @fastify/session's own hook, which then loads the session inside `withIncrementOnLoad`.
  app.decorateRequest('sessionIncrement', null)
  app.decorateRequest('nextSessionId', null)
  app.decorateRequest('loginSession', async function (this: FastifyRequest, reply: FastifyReply, keep: string[]) {
    await chooseLoginSessionId(this, reply, store, balancerSecret)
    try {
      await adapter.regenerate(this.session, keep)
    } catch (err) {
      // A refused login leaves nothing behind, the record of its request id included.
      if (this.nextSessionId !== null) await store.forgetLoginSessionId(this.id, this.nextSessionId, performance.now() - reply.elapsedTime).catch(() => {})
      throw err
    }
  })
  app.addHook('onRequest', (request, _reply, done) => {
    const field = request.routeOptions.config.sessionIncrement
    if (!field) return done()
    const increment = { field, applied: false }
    request.sessionIncrement = increment
    adapter.withIncrementOnLoad(increment, done)
  })

  // A cookie signed with an older secret (still in the list) is valid, but @fastify/session, seeing it differ
  // from the id signed with the current secret, clears it unless the session changed: rotating the secret would
  // log out everyone who merely visits. Re-sign it instead. Runs before @fastify/session's own onSend.
  app.addHook('onSend', (request, reply, payload, done) => {
    const session = request.session
    // The save @fastify/session's onSend may make carries the request's start. A request whose client has gone
    // (the balancer gave up on a hung replica, which then resumed) saves nothing: nobody awaits its answer.
    if (session) {
      const socket = request.raw.socket
      if (socket.destroyed || socket.readableEnded) {
        request.log.warn('the client has gone: the session is not saved')
        discardSession(request)
        return done(null, payload)
      }
      (session as Tracked)[kStartedAt] = performance.now() - reply.elapsedTime
    }
    // A session read from Redis, unchanged and not saved meanwhile: nothing to write. Only a cookie signed with
    // an older secret needs an answer; then @fastify/session's onSend, which would hash the session to find out
    // the same, is left nothing to do.
    // (A session whose id the cookie does not carry is new, a login's: @fastify/session sets its cookie.)
    const cookie = request.cookies?.[cookieName] // null when an earlier hook failed the request
    if (!session || cookie === undefined || !cookie.startsWith(`${session.sessionId}.`) ||
        adapter.changed(session) !== false || session.isSaved()) return done(null, payload)
    if (cookie !== session.encryptedSessionId) {
      // The same attributes @fastify/session would send (its Cookie has resolved 'auto' for this request).
      const { expires, secure, sameSite, path, httpOnly, domain } = session.cookie
      reply.setCookie(cookieName, session.encryptedSessionId, { expires: expires ?? undefined, secure, sameSite, path, httpOnly, domain })
    }
    discardSession(request)
    done(null, payload)
  })

  await app.register(fastifySession, {
    store: adapter,
    idGenerator: (request) => request?.nextSessionId ?? randomSessionId(),
    // HMAC-SHA256 with the secrets in order, each cookie verified once (cookie-signer.ts).
    secret: signer,
    cookieName,
    cookie: {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      // 'auto': Secure whenever the user's request was HTTPS (nginx says so in X-Forwarded-Proto); the
      // default `true` would silently never set the cookie over plain HTTP. `true` for HTTPS-only sites.
      secure: options.cookieSecure,
      maxAge: options.cookieMaxAgeMs
    },
    // Anonymous visitors cost nothing in Redis, and an unchanged session is never rewritten.
    saveUninitialized: false,
    rolling: false
  })

  // Snapshot what was read, so that a later save sends only the fields that changed. A session was read
  // from Redis exactly when its id is the one in the cookie (@fastify/session has checked the signature;
  // a new session gets a fresh random id). Comparing the id, not the whole signed value, keeps this true
  // for cookies signed with an older secret.
  app.addHook('onRequest', (request, _reply, done) => {
    const session = request.session
    const cookie = request.cookies?.[cookieName] // null when an earlier hook failed the request
    if (session?.sessionId && cookie?.startsWith(`${session.sessionId}.`)) adapter.track(session)
    done()
  })
}, { name: 'session-adapter', dependencies: ['redis'] })
