// Shares one Redis connection with the whole app and closes it last, after in-flight requests are done.
// Tests hand in a connection of their own (buildApp's `redis`), which they close themselves.
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { createRedis, type RedisClient, untilReady } from '../redis.ts'

const STARTUP_WAIT_MS = 2000

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
  }
}

export interface RedisPluginOptions {
  /** A connection to use instead of opening one from the configuration (tests); its owner closes it. */
  client?: RedisClient
}

export default fp<RedisPluginOptions>(async function redisPlugin (app, { client }) {
  // Named after the replica in CLIENT LIST, so an operator can tell the replicas' connections apart.
  const redis = client ?? createRedis(app.config.redis, app.config.replicaName, app.log)
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
}, { name: 'redis', dependencies: ['config'] })
