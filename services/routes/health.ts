// Liveness says the process answers; readiness says this replica should get traffic: it can serve sessions
// (a session script runs in Redis as a request's would, deadline and all, bounded by the command timeout: a
// replica whose deadlines Redis refuses is as useless as one without Redis), Redis never evicts the store's keys
// (eviction-policy.ts, read again at most every 2 s) and the replica is not shutting down.
import type { FastifyPluginAsync } from 'fastify'
import { EvictionPolicyWatch } from '../eviction-policy.ts'
import type { RedisSessionStore } from '../session-store/store.ts'

export interface Lifecycle {
  closing: boolean
}

const healthRoutes: FastifyPluginAsync<{ lifecycle: Lifecycle, sessions: RedisSessionStore }> = async (app, { lifecycle, sessions }) => {
  const evictionPolicy = new EvictionPolicyWatch(app.redis, app.log)

  app.get('/health/live', async (_request, reply) => reply.type('text/plain').send('ok\n'))

  app.get('/health/ready', async (request, reply) => {
    if (lifecycle.closing) return reply.code(503).type('text/plain').send('shutting down\n')
    try {
      await sessions.check()
    } catch (err) {
      request.log.warn({ err: { message: (err as Error).message } }, 'not ready: the session store is unavailable')
      return reply.code(503).type('text/plain').send('session store unavailable\n')
    }
    // Logged by the watch when it changes, not here at every probe.
    const problem = await evictionPolicy.problem()
    if (problem) return reply.code(503).type('text/plain').send(`not ready: ${problem}\n`)
    return reply.type('text/plain').send('ready\n')
  })
}

export default healthRoutes
