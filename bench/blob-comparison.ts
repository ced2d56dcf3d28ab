// The comparison the benchmark measures against: the stack most users run today, @fastify/session with
// connect-redis (8.x, the last line that works with ioredis), which keeps each session as one JSON string and
// writes it back whole. Mounted under /blob (bench/replica.ts) on the same replicas, same Redis and same nginx; benchmark only.
import fastifyCookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import fastifySession from '@fastify/session'
import { RedisStore } from 'connect-redis'
import type { FastifyPluginAsync } from 'fastify'

const blobComparison: FastifyPluginAsync = async (app) => {
  const config = app.config.session
  await app.register(formbody)
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    store: new RedisStore({ client: app.redis, prefix: 'blob:' }) as never,
    secret: config.secrets,
    cookieName: 'blobsid',
    cookie: { path: '/blob', httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: config.idleTtlMs },
    saveUninitialized: false
  })

  app.get('/', async (request, reply) => {
    const session = request.session
    if (!session.user) return reply.type('text/plain').send('You are not logged in\n')
    // Read-modify-write of the whole session: what the usual stack does, lost updates included.
    session.visits = (session.visits ?? 0) + 1
    return reply.type('text/plain').send(`Logged in as ${session.user}. Visits: ${session.visits}\n`)
  })

  app.post<{ Body: { username: string } }>('/login', async (request, reply) => {
    request.session.user = String(request.body?.username ?? 'anonymous').slice(0, 64)
    await request.session.regenerate(['user'])
    return reply.redirect('/blob/', 302)
  })
}

export default blobComparison
