// The replica's entry point: read config, listen, and stop gracefully on SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace'
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
  // Readiness turns 503 first; balancers that poll it stop sending before the listener closes.
  lifecycle.closing = true
  if (config.shutdownDrainMs > 0) await sleep(config.shutdownDrainMs)
  // Stops accepting, finishes in-flight requests, then closes Redis (onClose hooks).
  await app.close()
  app.log.info('stopped')
})

await app.listen({ host: config.host, port: config.port })
