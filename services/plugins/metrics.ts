// Prometheus metrics: every answer counted and timed by route pattern, and /metrics served on a port of its own
// (METRICS_PORT, on HOST), never on the public one: nginx proxies only PORT, so the metrics cannot leak through
// the balancer, and the public routes pay nothing for them. METRICS_PORT=0: no metrics, no hooks at all.
import fp from 'fastify-plugin'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Metrics } from '../metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when metrics are off (METRICS_PORT=0). */
    metrics: Metrics | null
    /** Starts serving /metrics on its own port (serve.ts, after the app listens); its address, or null when off. */
    listenMetrics: () => Promise<string | null>
  }
}

/** The route label of requests no route matched (404s): one value, whatever the URL. */
export const UNMATCHED = 'unmatched'

export default fp(async function metricsPlugin (app) {
  const { metricsPort: port, host, replicaName } = app.config
  if (port === 0) {
    app.decorate('metrics', null)
    app.decorate('listenMetrics', async () => null)
    return
  }
  // The replica's name on every series: the same name as X-Served-By and the logs.
  const metrics = new Metrics({ replica: replicaName })
  metrics.watchRedis(app.redis)
  app.decorate('metrics', metrics)

  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern ('/sessions/:handle/revoke'), never the URL: a label value per route, not per request.
    const route = request.routeOptions.url ?? UNMATCHED
    const status = reply.statusCode
    metrics.observeRequest(route, request.method, status, reply.elapsedTime / 1000)
    // Only the login route has a rate limit.
    if (status === 429 && route === '/login') metrics.loginsRateLimited.inc()
    done()
  })

  let server: Server | undefined
  app.decorate('listenMetrics', async () => {
    server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n')
        return
      }
      metrics.registry.metrics().then(text => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text)
      }, (err: Error) => {
        app.log.error({ err }, 'metrics collection failed')
        res.writeHead(500).end()
      })
    })
    const listening = server
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject)
      listening.listen(port, host, () => resolve())
    })
    const address = listening.address() as AddressInfo
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`
    app.log.info({ url }, 'metrics listening')
    return url
  })
  // Last, after the replica has drained: scrapes during a graceful stop still show it.
  app.addHook('onClose', async () => {
    if (server?.listening) await new Promise(resolve => server!.close(resolve))
  })
}, { name: 'metrics', dependencies: ['config', 'redis'] })
