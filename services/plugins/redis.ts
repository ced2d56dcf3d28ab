// Shares one Redis connection with the whole app and closes it last, after in-flight requests are done.
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { RedisClient } from '../redis.ts'
import type { RedisConfig } from '../config.ts'
import { createRedis } from '../redis.ts'

const STARTUP_WAIT_MS = 2000

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
  }
}

export default fp<{ config: RedisConfig, connectionName: string }>(async function redisPlugin (app, { config, connectionName }) {
  const redis = createRedis(config, connectionName, app.log)
  app.decorate<RedisClient>('redis', redis)
  // Commands fail at once while there is no connection: start serving with one if it comes soon, or without
  // (readiness says so, and the connection keeps being retried).
  await Promise.race([
    new Promise(resolve => redis.once('ready', resolve)),
    sleep(STARTUP_WAIT_MS, undefined, { ref: false })
  ])
  app.addHook('onClose', async () => {
    // QUIT waits for replies still due; past the command timeout, drop the socket.
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
