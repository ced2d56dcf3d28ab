// The app factory: registers plugins and routes and never listens (serve.ts does), so tests can build it too.
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import formbody from '@fastify/formbody'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify'
import type { Config } from './config.ts'
import { loggerOptions } from './logger.ts'
import assets from './plugins/assets.ts'
import configPlugin from './plugins/config.ts'
import metrics from './plugins/metrics.ts'
import observability from './plugins/observability.ts'
import redisPlugin from './plugins/redis.ts'
import security from './plugins/security.ts'
import sessionPlugin, { createSessionStore } from './plugins/session.ts'
import type { RedisClient } from './redis.ts'
import accountRoutes from './routes/account.ts'
import { requireUser } from './routes/guard.ts'
import healthRoutes, { type Lifecycle } from './routes/health.ts'
import pageRoutes from './routes/pages.ts'
import sessionRoutes from './routes/sessions.ts'
import watchRoutes from './routes/watch.ts'
import { discardSession } from './session-store/fastify-adapter.ts'
import views, { escapeHtml } from './views.ts'

/**
 * Above any sensible upstream keepalive_timeout in the balancer (nginx here: 4 s; 60 s is common): the balancer, not
 * the replica, closes idle connections, so it never sends a request on a socket being closed (test/unit/timings).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 72_000

export interface AppOptions {
  lifecycle?: Lifecycle
  logger?: FastifyServerOptions['logger']
  /** A Redis connection to use instead of opening one from config (tests); its owner closes it. */
  redis?: RedisClient
}

/**
 * What Node refuses before Fastify sees a request (a header block over its 16 KB limit: 431; a client too slow:
 * 408; anything it cannot parse: 400), answered as Fastify would, but naming the replica like every other answer
 * does, so that a refusal straight at a replica can be told from nginx's own.
 */
function clientErrorHandler (replicaName: string) {
  // Written raw onto the socket: only a name that is a valid header value goes in.
  const servedBy = /^[\x21-\x7e]+$/.test(replicaName) ? `X-Served-By: ${replicaName}\r\n` : ''
  return function (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
    const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message: status === 431 ? 'Exceeded maximum allowed HTTP header size' : 'Client Error' })
    this.log.debug({ err }, 'client error')
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n${servedBy}Connection: close\r\n\r\n${body}`)
    }
    socket.destroy(err)
  }
}

export async function buildApp (config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    clientErrorHandler: clientErrorHandler(config.replicaName),
    logger: options.logger ?? loggerOptions(config.replicaName, config.logLevel, config.logFormat),
    // observability.ts writes one line per request instead of Fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id', // nginx's $request_id, so its log and ours share the id
    trustProxy: config.trustProxy,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // A replica that is stopping keeps serving what reaches it on open connections until they close.
    return503OnClosing: false,
    bodyLimit: 16 * 1024
  })
  const lifecycle = options.lifecycle ?? { closing: false }

  // While the replica drains, every answer closes its connection: nginx learns from the answer itself not to
  // reuse it, instead of finding out by sending the next request (perhaps a POST) into a socket being closed.
  // onSend, not onRequest: requests already in hand when the signal came close theirs too.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.closing) reply.header('connection', 'close')
    done(null, payload)
  })

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    const status = err.statusCode ?? 500
    discardSession(request)
    if (status >= 500) request.log.error({ err }, 'request failed')
    if (status === 503) reply.header('retry-after', '1')
    const message = status >= 500 && status !== 503 ? 'Internal server error' : err.message
    const login = status === 401 ? '<p><a href="/login">Log in</a></p>' : ''
    reply.code(status)
    return reply.page({
      title: status === 401 ? 'Not logged in' : 'Error',
      text: message,
      html: `<p>${escapeHtml(message)}</p>${login}`,
      json: { statusCode: status, code: err.code ?? 'INTERNAL', message }
    })
  })
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404)
    return reply.page({ title: 'Not found', text: 'Not found', html: '<p>Not found</p>', json: { statusCode: 404, code: 'NOT_FOUND', message: 'Not found' } })
  })

  await app.register(configPlugin, { config })
  await app.register(views)
  await app.register(observability)
  await app.register(security)
  await app.register(redisPlugin, { client: options.redis })
  await app.register(metrics)
  const sessions = createSessionStore(app)
  await app.register(healthRoutes, { lifecycle, sessions })
  await app.register(assets)

  await app.register(async function withSessions (scope) {
    await scope.register(formbody)
    await scope.register(sessionPlugin, { store: sessions })
    if (config.loginRateLimit > 0) {
      // Counted in Redis, so the limit holds however nginx spreads the attempts over the replicas. Should
      // Redis fail, the login itself fails with a clear 503: the limiter need not fail it first.
      await scope.register(rateLimit, { global: false, redis: scope.redis, nameSpace: `${config.session.keyPrefix}rl:`, skipOnError: true })
    }
    await scope.register(pageRoutes)
    await scope.register(async function loggedIn (user) {
      user.addHook('preHandler', requireUser)
      await user.register(accountRoutes)
      await user.register(sessionRoutes)
      await user.register(watchRoutes)
    })
  })
  return app
}
