// Sessions for the routes that use them: registered inside their scope, so the health checks and other
// session-free routes never pay for a cookie check.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import sessionAdapter from '../session-store/fastify-adapter.ts'
import { RedisSessionStore } from '../session-store/store.ts'
import { usernameSkeleton } from '../username.ts'

declare module 'fastify' {
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

/** The store, made once per app: the session routes use it, and readiness asks it whether sessions can be served. */
export function createSessionStore (app: FastifyInstance): RedisSessionStore {
  const config = app.config.session
  return new RedisSessionStore(app.redis, {
    prefix: config.keyPrefix,
    idleTtlMs: config.idleTtlMs,
    maxAgeMs: config.maxAgeMs,
    userField: 'user',
    userKey: usernameSkeleton,
    loginRetries: config.balancerSecret !== undefined,
    waitReplicas: config.waitReplicas,
    waitTimeoutMs: config.waitTimeoutMs,
    maxPerUser: config.maxPerUser,
    writeWindowMs: config.writeWindowMs,
    observe: app.metrics?.observeStore.bind(app.metrics)
  })
}

export default fp<{ store: RedisSessionStore }>(async function sessionPlugin (app, { store }) {
  const config = app.config.session
  await app.register(sessionAdapter, {
    store,
    secrets: config.secrets,
    cookieName: config.cookieName,
    cookieSecure: config.cookieSecure,
    // The browser may keep the cookie for the absolute lifetime; Redis enforces idle expiry.
    cookieMaxAgeMs: config.maxAgeMs,
    balancerSecret: config.balancerSecret
  })
}, { name: 'session', dependencies: ['config', 'redis'] })
