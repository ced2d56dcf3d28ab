// Shares one Redis connection with the whole app and closes it last, after in-flight requests are done.
// Tests hand in a connection of their own (buildApp's `redis`), which they close themselves.
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { RedisConfig } from '../config.ts'
import { createRedis, type RedisClient, untilReady } from '../redis.ts'

const STARTUP_WAIT_MS = 2000

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
  }
}

export interface RedisPluginOptions {
  config: RedisConfig
  connectionName: string
  client?: RedisClient
}

export default fp<RedisPluginOptions>(async function redisPlugin (app, { config, connectionName, client }) {
  const redis = client ?? createRedis(config, connectionName, app.log)
  app.decorate<RedisClient>('redis', redis)
  if (client) return
  // Commands fail at once while there is no connection: start serving with one if it comes soon, or without
  // (readiness says so, and the connection keeps being retried).
  await Promise.race([
    untilReady(redis),
    sleep(STARTUP_WAIT_MS, undefined, { ref: false })
  ])
  app.addHook('onClose', async () => {
    // QUIT waits for replies still due; past the command timeout, drop the socket.
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
