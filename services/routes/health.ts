// Liveness says the process answers; readiness says this replica should get traffic: Redis answers a PING
// (bounded by the command timeout) and the replica is not shutting down.
import type { FastifyPluginAsync } from 'fastify'

export interface Lifecycle {
  closing: boolean
}

const healthRoutes: FastifyPluginAsync<{ lifecycle: Lifecycle }> = async (app, { lifecycle }) => {
  app.get('/health/live', async (_request, reply) => reply.type('text/plain').send('ok\n'))

  app.get('/health/ready', async (request, reply) => {
    if (lifecycle.closing) return reply.code(503).type('text/plain').send('shutting down\n')
    try {
      await app.redis.ping()
      return reply.type('text/plain').send('ready\n')
    } catch (err) {
      request.log.warn({ err: { message: (err as Error).message } }, 'not ready: redis unreachable')
      return reply.code(503).type('text/plain').send('redis unreachable\n')
    }
  })
}

export default healthRoutes
