// The app factory: registers plugins and routes and never listens (server.ts does), so tests can build it too.
import formbody from '@fastify/formbody'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify'
import type { Config } from './config.ts'
import { loggerOptions } from './logger.ts'
import observability from './plugins/observability.ts'
import redisPlugin from './plugins/redis.ts'
import security from './plugins/security.ts'
import sessionPlugin from './plugins/session.ts'
import healthRoutes, { type Lifecycle } from './routes/health.ts'
import pageRoutes from './routes/pages.ts'
import sessionRoutes from './routes/sessions.ts'
import { escapeHtml, sendPage } from './views.ts'

export interface AppOptions {
  lifecycle?: Lifecycle
  logger?: FastifyServerOptions['logger']
}

export async function buildApp (config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config.replicaName, config.logLevel, config.logFormat),
    // observability.ts writes one line per request instead of Fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id', // nginx's $request_id, so its log and ours share the id
    trustProxy: config.trustProxy,
    // Above any sensible upstream keepalive_timeout in the balancer (nginx here: 4 s; 60 s is common): the
    // balancer, not the replica, closes idle connections, so it never sends a request on a socket being closed.
    keepAliveTimeout: 72_000,
    // A replica that is stopping keeps serving what reaches it on open connections until they close.
    return503OnClosing: false,
    bodyLimit: 16 * 1024
  })
  const replica = config.replicaName
  const lifecycle = options.lifecycle ?? { closing: false }

  // While the replica drains, every answer closes its connection: nginx learns from the answer itself not to
  // reuse it, instead of finding out by sending the next request (perhaps a POST) into a socket being closed.
  // onSend, not onRequest: requests already in hand when the signal came close theirs too.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.closing) reply.header('connection', 'close')
    done(null, payload)
  })

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode ?? 500
    // An error answer never saves the session: @fastify/session would try again while sending this page (and
    // with Redis down, fail again).
    ;(request as { session?: unknown }).session = null
    if (status >= 500) request.log.error({ err }, 'request failed')
    if (status === 503) reply.header('retry-after', '1')
    const message = status >= 500 && status !== 503 ? 'Internal server error' : err.message
    reply.code(status)
    return sendPage(request, reply, replica, { title: 'Error', text: message, html: `<p>${escapeHtml(message)}</p>` })
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404)
    return sendPage(request, reply, replica, { title: 'Not found', text: 'Not found', html: '<p>Not found</p>' })
  })

  await app.register(observability, { replicaName: replica })
  await app.register(security)
  await app.register(redisPlugin, { config: config.redis, connectionName: replica })
  await app.register(healthRoutes, { lifecycle })

  await app.register(async function withSessions (scope) {
    await scope.register(formbody)
    await scope.register(sessionPlugin, { config: config.session })
    if (config.loginRateLimit > 0) {
      // Counted in Redis, so the limit holds however nginx spreads the attempts over the replicas. Should
      // Redis fail, the login itself fails with a clear 503: the limiter need not fail it first.
      await scope.register(rateLimit, { global: false, redis: scope.redis, nameSpace: `${config.session.keyPrefix}rl:`, skipOnError: true })
    }
    const routeOptions = { replicaName: replica, cookieName: config.session.cookieName, loginRateLimit: config.loginRateLimit }
    await scope.register(pageRoutes, routeOptions)
    await scope.register(sessionRoutes, routeOptions)
  })

  if (config.blobRoutes) {
    // Loaded only when asked for: the comparison store is a dev dependency.
    const { default: blobComparison } = await import('./blob-comparison.ts')
    await app.register(blobComparison, { prefix: '/blob', config: config.session, replicaName: replica })
  }
  return app
}
