// Listens, and stops gracefully on SIGTERM/SIGINT: what every replica entry (server.ts, the benchmark's) shares.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type AppOptions, buildApp } from './app.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { replicaNameFromDns } from './replica-name.ts'

/** The configuration from the environment, or exit 1 with the reason in one line. */
export function configOrExit (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`Configuration error: ${err.message}`)
    process.exit(1)
  }
}

export async function serve (config: Config, extend?: (app: FastifyInstance) => Promise<void>, options: AppOptions = {}): Promise<FastifyInstance> {
  // Before the app is built: the name is in every log line and every answer.
  const dnsName = config.replicaNameFromDns ? await replicaNameFromDns(config.replicaNameFromDns) : undefined
  if (dnsName) config = { ...config, replicaName: dnsName }
  const lifecycle = { closing: false }
  const app = await buildApp(config, { ...options, lifecycle })
  if (config.replicaNameFromDns && !dnsName) {
    app.log.warn(`REPLICA_NAME_FROM_DNS=${config.replicaNameFromDns}: no container name found by a reverse DNS lookup; named after the host instead`)
  }
  await extend?.(app)
  const openConnections = async () => await new Promise<number>(resolve => app.server.getConnections((_err, count) => resolve(count)))

  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    // Readiness turns 503, and every answer closes its connection (app.ts). The listener closes at once: nginx's
    // next new connection is refused, retried on another replica (POSTs too: never sent) and the replica rests.
    // Open connections are served until nginx closes them, which it does with idle ones within the drain time (its
    // upstream keepalive_timeout is shorter); closing one here could cut a request nginx is just sending on it, and
    // a POST it has sent is not retried. net.Server's own close: stop accepting, call back once the last
    // connection has ended (http.Server's would close idle keep-alive connections at once).
    lifecycle.closing = true
    const drained = new Promise<true>(resolve => net.Server.prototype.close.call(app.server, () => resolve(true)))
    const connections = await openConnections()
    if (err) app.log.error({ err, connections }, 'fatal error, shutting down')
    else app.log.info({ signal, connections }, 'shutting down')
    if (!await Promise.race([drained, sleep(config.shutdownDrainMs, false)])) {
      app.log.warn({ connections: await openConnections() }, 'drain time is up: closing connections the balancer still holds open')
    }
    // Finishes in-flight requests, then closes Redis (onClose hooks).
    await app.close()
    app.log.info('stopped')
  })

  await app.listen({ host: config.host, port: config.port })
  await app.listenMetrics()
  return app
}
