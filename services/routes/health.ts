// Liveness says the process answers; readiness says this replica should get traffic: Redis answers a PING
// (bounded by the command timeout), never evicts the store's keys (eviction-policy.ts, read again at most every
// 2 s) and the replica is not shutting down.
import type { FastifyPluginAsync } from 'fastify'
import { EvictionPolicyWatch } from '../eviction-policy.ts'

export interface Lifecycle {
  closing: boolean
}

const healthRoutes: FastifyPluginAsync<{ lifecycle: Lifecycle }> = async (app, { lifecycle }) => {
  const evictionPolicy = new EvictionPolicyWatch(app.redis, app.log)

  app.get('/health/live', async (_request, reply) => reply.type('text/plain').send('ok\n'))

  app.get('/health/ready', async (request, reply) => {
    if (lifecycle.closing) return reply.code(503).type('text/plain').send('shutting down\n')
    try {
      await app.redis.ping()
    } catch (err) {
      request.log.warn({ err: { message: (err as Error).message } }, 'not ready: redis unreachable')
      return reply.code(503).type('text/plain').send('redis unreachable\n')
    }
    // Logged by the watch when it changes, not here at every probe.
    const problem = await evictionPolicy.problem()
    if (problem) return reply.code(503).type('text/plain').send(`not ready: ${problem}\n`)
    return reply.type('text/plain').send('ready\n')
  })
}

export default healthRoutes
