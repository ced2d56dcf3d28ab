// The replica's entry point: read config, listen, and stop gracefully on SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`Configuration error: ${err.message}`)
  process.exit(1)
}

const lifecycle = { closing: false }
const app = await buildApp(config, { lifecycle })

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down')
  else app.log.info({ signal }, 'shutting down')
  // Readiness turns 503, and every answer closes its connection (app.ts). The listener closes at once: nginx's
  // next new connection is refused, retried on another replica (POSTs too: never sent) and the replica rests.
  // Open connections are served until they are gone or the drain time is up; closing an idle one earlier could
  // cut a request nginx is just sending on it, and a POST it has sent is not retried.
  lifecycle.closing = true
  if (config.shutdownDrainMs > 0) {
    // net.Server's own close: stop accepting, call back when the last connection has ended. (http.Server's
    // would also close idle keep-alive connections at once.)
    const drained = new Promise(resolve => net.Server.prototype.close.call(app.server, resolve))
    await Promise.race([drained, sleep(config.shutdownDrainMs)])
  }
  // Stops accepting, finishes in-flight requests, then closes Redis (onClose hooks).
  await app.close()
  app.log.info('stopped')
})

await app.listen({ host: config.host, port: config.port })
