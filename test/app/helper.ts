// The app tier: the real app (buildApp) answering `inject()`, on one real redis-server per test file. No nginx,
// no replica processes: routes, pages, hooks and the session adapter, in milliseconds.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { RedisServer } from '../../harness/redis-server.ts'
import { buildApp } from '../../services/app.ts'
import { loadConfig } from '../../services/config.ts'

export const SECRET = 'app-tier-test-secret-of-at-least-32-characters'

export interface AppUnderTest {
  app: FastifyInstance
  /** The test's own connection to the same Redis, for checks. */
  redis: Redis
  server: RedisServer
}

/** A redis-server for the whole file, stopped (and its directory removed) when the file's tests end. */
export async function startRedis (t: Test): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'app-tier-'))
  const server = await RedisServer.start({ dir, persistence: false })
  t.teardown(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return server
}

/** The app on that Redis with this environment; Redis is emptied first, the app closed when the test ends. */
export async function buildTestApp (t: Test, server: RedisServer, env: Record<string, string> = {}): Promise<AppUnderTest> {
  const config = loadConfig({ SESSION_SECRET: SECRET, REPLICA_NAME: 'replica-test', LOGIN_RATE_LIMIT: '0', LOG_LEVEL: 'silent', REDIS_URL: server.url, ...env })
  const client = new Redis(server.url, { commandTimeout: config.redis.commandTimeoutMs, maxRetriesPerRequest: 0 })
  const redis = new Redis(server.url)
  await redis.flushall()
  const app = await buildApp(config, { redis: client })
  t.teardown(async () => {
    await app.close()
    client.disconnect()
    redis.disconnect()
  })
  return { app, redis, server }
}

type Headers = Record<string, string>

/** One user: a cookie jar over inject(), redirects left visible. */
export class User {
  readonly app: FastifyInstance
  readonly cookies = new Map<string, string>()

  constructor (app: FastifyInstance) {
    this.app = app
  }

  async request (options: InjectOptions & { headers?: Headers }) {
    const headers: Headers = { ...options.headers }
    if (this.cookies.size > 0 && !headers.cookie) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await this.app.inject({ ...options, headers })
    for (const c of res.cookies as Array<{ name: string, value: string, maxAge?: number, expires?: Date }>) {
      const gone = c.value === '' || c.maxAge === 0 || (c.expires !== undefined && c.expires.getTime() <= Date.now())
      if (gone) this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
    return res
  }

  async get (url: string, headers: Headers = {}) {
    return await this.request({ method: 'GET', url, headers })
  }

  async post (url: string, form: Record<string, string> = {}, headers: Headers = {}) {
    return await this.request({ method: 'POST', url, payload: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } })
  }

  async login (username: string) {
    const res = await this.post('/login', { username })
    if (res.statusCode !== 302) throw new Error(`login as ${username} failed: ${res.statusCode} ${res.body}`)
    return res
  }
}
