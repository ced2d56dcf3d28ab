// The one-round-trip floor the hot path is measured against: the same load script as `GET /` (read, slide and
// count a visit: one EVALSHA, through the same store), with no session plugin, no cookie parsing or signature
// and no hook of its own. The session id comes in a plain header. It passes only the hooks every route of a
// replica passes (X-Served-By, security headers, the log line, metrics). Benchmark only (bench/replica.ts).
import type { FastifyPluginAsync } from 'fastify'
import { RedisSessionStore } from '../services/session-store/store.ts'

/** The header carrying the bare session id (the signed cookie's value before its first dot). */
export const TRIP_HEADER = 'x-session-id'

const oneRoundTrip: FastifyPluginAsync = async (app) => {
  const config = app.config.session
  const store = new RedisSessionStore(app.redis, {
    prefix: config.keyPrefix,
    idleTtlMs: config.idleTtlMs,
    maxAgeMs: config.maxAgeMs,
    writeWindowMs: config.writeWindowMs,
    observe: app.metrics?.observeStore.bind(app.metrics)
  })
  app.get('/', async (request, reply) => {
    const id = request.headers[TRIP_HEADER]
    const fields = typeof id === 'string' ? await store.load(id, 'visits') : null
    if (!fields) return await reply.code(401).type('text/plain; charset=utf-8').send('You are not logged in\n')
    return await reply.type('text/plain; charset=utf-8').send(`Logged in as ${String(fields.user)}. Visits: ${String(fields.visits)}\n`)
  })
}

export default oneRoundTrip
