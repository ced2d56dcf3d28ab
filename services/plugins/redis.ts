// Shares one Redis connection with the whole app and closes it last, after in-flight requests are done.
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { RedisConfig } from '../config.ts'
import { createRedis } from '../redis.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

export default fp<{ config: RedisConfig, connectionName: string }>(async function redisPlugin (app, { config, connectionName }) {
  const redis = createRedis(config, connectionName, app.log)
  app.decorate('redis', redis)
  app.addHook('onClose', async () => {
    // QUIT waits for replies still due; past the command timeout, drop the socket.
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
