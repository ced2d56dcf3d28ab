// The local stack: Redis, N replicas and nginx as processes on loopback, the same topology as
// docker-compose.yml. The start command, the tests and the benchmark all start it from here.
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Nginx } from './nginx.ts'
import { freePort } from './ports.ts'
import type { FakeClock } from './fake-clock.ts'
import { type LineListener, pollUntil } from './processes.ts'
import { RedisServer } from './redis-server.ts'
import { Replica } from './replicas.ts'
import { selfSignedPair, type TlsFiles } from './self-signed-cert.ts'
import { scaled } from './timeouts.ts'

export interface LocalStackOptions {
  /** How many replicas (default 3). */
  replicas?: number
  /** Replica i listens on basePort + i; ports the OS picks when unset. */
  basePort?: number
  /** nginx's port; a free one when unset. */
  lbPort?: number
  /** Replica i serves its metrics on metricsBasePort + i; free ports when unset; none with env METRICS_PORT=0. */
  metricsBasePort?: number
  /** nginx's stub_status listener (127.0.0.1 only); a free port when unset. */
  nginxStatusPort?: number
  /** Port for the Redis this starts; a free one when unset. */
  redisPort?: number
  /** Use this Redis instead of starting one (the one started otherwise has a random password, in `redisUrl`). */
  redisUrl?: string
  /** Scratch directory (Redis data, nginx config); a fresh temporary one, removed at stop, when unset. */
  dir?: string
  /** Extra configuration for every replica (see services/config.ts). */
  env?: Record<string, string>
  /** nginx access log: 'file' (default; its lines reach onLine) or 'off'. */
  accessLog?: 'file' | 'off'
  nginxWorkers?: number
  /** Receives every line any process prints. */
  onLine?: LineListener
  nodeArgs?: string[]
  /** The replicas' entry point (default: services/server). */
  replicaEntry?: string
  /**
   * nginx serves HTTPS too, with this certificate and key, or with a self-signed pair for localhost kept in
   * `dir`/tls (reused while valid). Plain HTTP stays on `lbPort`.
   */
  tls?: TlsFiles | 'self-signed'
  /** nginx's HTTPS port; a free one when unset. */
  httpsPort?: number
  /** Plain HTTP answers with a redirect to HTTPS. */
  redirectHttp?: boolean
  /** Proxies in front of nginx (addresses, CIDRs) trusted to state the client's address and scheme. */
  trustedProxies?: string[]
  /** replica-1 runs on this wall clock, which a test can step (harness/fake-clock.ts); the others on the real one. */
  replicaClock?: FakeClock
}

export class LocalStack {
  readonly dir: string
  readonly redisUrl: string
  readonly secret: string
  /** What nginx sends the replicas so that they trust its request ids (a re-sent login). */
  readonly balancerSecret: string
  readonly replicas: Replica[] = []
  redis: RedisServer | undefined
  nginx!: Nginx
  /** The certificate and key nginx serves HTTPS with; the certificate is also what a client trusts when self-signed. */
  tls: TlsFiles | undefined
  readonly #options: LocalStackOptions
  readonly #ownsDir: boolean

  private constructor (options: LocalStackOptions, dir: string, ownsDir: boolean, redisUrl: string) {
    this.#options = options
    this.dir = dir
    this.#ownsDir = ownsDir
    this.redisUrl = redisUrl
    // One random secret shared by all replicas of this run, unless the caller brings one.
    this.secret = options.env?.SESSION_SECRET ?? randomBytes(48).toString('base64url')
    // The one secret nginx and the replicas share: the caller's (a replica would read BALANCER_SECRET_FILE first,
    // so nginx must send the file's), or a random one.
    const secretFile = options.env?.BALANCER_SECRET_FILE
    this.balancerSecret = secretFile ? readFileSync(secretFile, 'utf8').trim() : options.env?.BALANCER_SECRET ?? randomBytes(32).toString('hex')
  }

  static async start (options: LocalStackOptions = {}): Promise<LocalStack> {
    const ownsDir = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'redis-sessions-'))
    mkdirSync(dir, { recursive: true })
    let redis: RedisServer | undefined
    const partial: { stack?: LocalStack } = {}
    try {
      if (!options.redisUrl) {
        // A new random password for every run, as compose generates one: any local user could otherwise read
        // every live session id from a Redis on loopback.
        redis = await RedisServer.start({ port: options.redisPort, dir: join(dir, 'redis'), password: randomBytes(24).toString('base64url'), onLine: options.onLine })
      }
      const stack = new LocalStack(options, dir, ownsDir, options.redisUrl ?? redis!.url)
      partial.stack = stack
      stack.redis = redis
      const count = options.replicas ?? 3
      // Metrics need a port of their own (0 turns them off): a free one, unless the caller chose. A port free a moment
      // ago can be taken meanwhile (another replica binding port 0 may be given it): then that replica starts again on
      // another.
      const metricsPort = async (i: number) => options.env?.METRICS_PORT === '0'
        ? 0
        : options.metricsBasePort ? options.metricsBasePort + i : await freePort()
      const startReplica = async (i: number, attempt = 1): Promise<Replica> => {
        try {
          return await Replica.start({
            name: `replica-${i + 1}`,
            // Unset: each binds port 0 and reports the one it got.
            port: options.basePort ? options.basePort + i : undefined,
            env: { ...stack.replicaEnv(), METRICS_PORT: String(await metricsPort(i)) },
            onLine: options.onLine,
            nodeArgs: options.nodeArgs,
            entry: options.replicaEntry,
            clock: i === 0 ? options.replicaClock : undefined
          })
        } catch (err) {
          if (attempt >= 3 || options.metricsBasePort || options.basePort || !/EADDRINUSE/.test(String(err))) throw err
          return await startReplica(i, attempt + 1)
        }
      }
      // All settled, so that when one fails the others are in `replicas` to be stopped, not left running.
      const started = await Promise.allSettled(Array.from({ length: count }, async (_, i) => await startReplica(i)))
      for (const result of started) if (result.status === 'fulfilled') stack.replicas.push(result.value)
      const failed = started.find(result => result.status === 'rejected')
      if (failed) throw failed.reason
      if (options.tls === 'self-signed') mkdirSync(join(dir, 'tls'), { recursive: true, mode: 0o700 })
      stack.tls = options.tls === 'self-signed' ? selfSignedPair(join(dir, 'tls')) : options.tls
      stack.nginx = await Nginx.start({
        port: options.lbPort,
        statusPort: options.nginxStatusPort,
        dir: join(dir, 'nginx'),
        upstreams: stack.replicas.map(r => ({ host: '127.0.0.1', port: r.port })),
        accessLog: options.accessLog,
        workerProcesses: options.nginxWorkers,
        onLine: options.onLine,
        tls: stack.tls && { ...stack.tls, port: options.httpsPort, redirectHttp: options.redirectHttp },
        trustedProxies: options.trustedProxies,
        balancerSecret: stack.balancerSecret
      })
      return stack
    } catch (err) {
      if (partial.stack) await partial.stack.stop()
      else await redis?.kill()
      if (ownsDir) rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  /** The replicas' configuration: shared secret, Redis, nginx trusted as the only proxy; the rest as in production. */
  replicaEnv (): Record<string, string> {
    return {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      TRUST_PROXY: '127.0.0.1',
      SHUTDOWN_GRACE: '10s',
      ...this.#options.env,
      SESSION_SECRET: this.secret,
      BALANCER_SECRET: this.balancerSecret,
      REDIS_URL: this.redisUrl
    }
  }

  /** The load balancer's URL: where users (and tests) send requests. */
  get url (): string {
    return this.nginx.url
  }

  /** The same over HTTPS; throws when the stack was started without `tls`. */
  get httpsUrl (): string {
    if (this.nginx.httpsUrl === undefined) throw new Error('this stack serves no HTTPS: start it with the tls option')
    return this.nginx.httpsUrl
  }

  replica (name: string): Replica {
    const replica = this.replicas.find(r => r.name === name)
    if (!replica) throw new Error(`no replica named ${name}`)
    return replica
  }

  /**
   * Restarts every replica in turn without failing a request. Nothing is changed in nginx: each replica drains
   * itself (its answers close their connections, see services/serve.ts and app.ts), and once its listener is closed nginx
   * sends what would have gone to it to the others. The next one is stopped only once nginx uses this one
   * again (it rests a replica that refused a connection for fail_timeout): otherwise all could be resting at once.
   */
  async rollingRestart (onStep: (message: string) => void = () => {}): Promise<void> {
    for (const replica of this.replicas) {
      onStep(`restarting ${replica.name} (pid ${replica.pid})`)
      await replica.restart()
      await pollUntil(`nginx to send requests to ${replica.name} again`, async () => {
        const res = await fetch(`${this.url}/health/live`)
        return res.headers.get('x-served-by') === replica.name ? true : undefined
      }, scaled(15_000), 100)
      onStep(`${replica.name} is back in rotation (pid ${replica.pid})`)
    }
  }

  /** Stops everything it started: nginx first (no new requests), then the replicas, then Redis. */
  async stop (): Promise<void> {
    await this.nginx?.stop().catch(() => {})
    await Promise.all(this.replicas.map(async r => await r?.stop().catch(() => {})))
    await this.redis?.stop().catch(() => {})
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}
