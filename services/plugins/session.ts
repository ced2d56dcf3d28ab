// Wires @fastify/session to the Redis hash store. Registered inside the scope of the routes that use
// sessions, so the health checks and other session-free routes never pay for a cookie check.
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fp from 'fastify-plugin'
import type { SessionConfig } from '../config.ts'
import { type LoadIncrement, RedisSessionStore } from '../session-store.ts'

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
  }
  interface Session {
    user?: string
    /** The user agent that logged in, and the replica that served the login: shown on /sessions. */
    ua?: string
    via?: string
    visits?: number
    theme?: 'light' | 'dark'
    language?: string
  }
}

export default fp<{ config: SessionConfig }>(async function sessionPlugin (app, { config }) {
  const store = new RedisSessionStore(app.redis, {
    prefix: config.keyPrefix,
    idleTtlMs: config.idleTtlMs,
    maxAgeMs: config.maxAgeMs,
    userField: 'user',
    waitReplicas: config.waitReplicas,
    waitTimeoutMs: config.waitTimeoutMs
  })
  app.decorate('sessions', store)

  await app.register(fastifyCookie)
  // Runs just before @fastify/session's own hook, which then loads the session inside `withIncrementOnLoad`.
  app.decorateRequest('sessionIncrement', null)
  app.addHook('onRequest', (request, _reply, done) => {
    const field = request.routeOptions.config.sessionIncrement
    if (!field) return done()
    const increment = { field, applied: false }
    request.sessionIncrement = increment
    store.withIncrementOnLoad(increment, done)
  })

  // A cookie signed with an older secret (still in the list) is valid, but @fastify/session, seeing it differ
  // from the id signed with the current secret, clears it unless the session changed: rotating the secret would
  // log out everyone who merely visits. Re-sign it instead. Runs before @fastify/session's own onSend.
  const cookieName = config.cookieName
  app.addHook('onSend', (request, reply, payload, done) => {
    const session = request.session
    const cookie = request.cookies?.[cookieName] // null when an earlier hook failed the request
    if (session && cookie !== undefined && cookie !== session.encryptedSessionId &&
        cookie.startsWith(`${session.sessionId}.`) && !session.isModified()) {
      request.cookies[cookieName] = session.encryptedSessionId // nothing left for @fastify/session to clear
      // The same attributes @fastify/session would send (its Cookie has resolved 'auto' for this request).
      const { expires, secure, sameSite, path, httpOnly, domain } = session.cookie
      reply.setCookie(cookieName, session.encryptedSessionId, { expires: expires ?? undefined, secure, sameSite, path, httpOnly, domain })
    }
    done(null, payload)
  })

  await app.register(fastifySession, {
    store,
    secret: config.secrets,
    cookieName: config.cookieName,
    cookie: {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      // 'auto': Secure whenever the user's request was HTTPS (nginx says so in X-Forwarded-Proto); the
      // default `true` would silently never set the cookie over plain HTTP. `true` for HTTPS-only sites.
      secure: config.cookieSecure,
      // The browser may keep the cookie for the absolute lifetime; Redis enforces idle expiry.
      maxAge: config.maxAgeMs
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
    if (session?.sessionId && cookie?.startsWith(`${session.sessionId}.`)) store.track(session)
    done()
  })
}, { name: 'session', dependencies: ['redis'] })
