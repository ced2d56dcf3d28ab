// A real redis-server on loopback with its own port and data directory, persistent by default (append-only
// file, fsync every second: an acknowledged write survives a crash of the process, since it has reached the OS).
import { chmodSync, mkdirSync } from 'node:fs'
import { Socket } from 'node:net'
import { Redis } from 'ioredis'
import { currentEngine } from './engines.ts'
import { startOnFreePort } from './ports.ts'
import { type LineListener, ManagedProcess } from './processes.ts'
import { scaled } from './timeouts.ts'

export interface RedisServerOptions {
  name?: string
  port?: number
  dir: string
  /** Append-only persistence (default true). */
  persistence?: boolean
  /** Extra `--option value` arguments, e.g. ['--requirepass', 'x'] or sentinel settings. */
  args?: string[]
  /** Run as a Sentinel (`redis-server --sentinel`), with this config file. */
  sentinelConfig?: string
  /** Clients must AUTH with it (`--requirepass`); `url` carries it. */
  password?: string
  onLine?: LineListener
}

/** Sends one inline command over a fresh connection (after AUTH, given a password) and returns its first reply line. */
export async function redisCommand (port: number, command: string, timeoutMs = scaled(1000), password?: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = new Socket()
    let data = ''
    // AUTH's own reply comes first: the command's is the line after it.
    let skip = password === undefined ? 0 : 1
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('redis did not answer in time')))
    socket.on('error', reject)
    // SHUTDOWN closes the connection without a reply.
    socket.on('close', () => reject(new Error('connection closed without a reply')))
    socket.on('data', chunk => {
      data += chunk.toString()
      for (let end = data.indexOf('\r\n'); end >= 0; end = data.indexOf('\r\n')) {
        const line = data.slice(0, end)
        data = data.slice(end + 2)
        if (skip-- > 0) continue
        socket.end()
        return resolve(line)
      }
    })
    // AUTH as a RESP array: a password is sent as it is, whatever it holds.
    const auth = password === undefined ? '' : `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`
    socket.connect(port, '127.0.0.1', () => socket.write(`${auth}${command}\r\n`))
  })
}

/** Runs `fn` on a short-lived connection to the server on this port (per-server commands: INFO, SCRIPT FLUSH, …). */
export async function withClient<T> (port: number, fn: (redis: Redis) => Promise<T>, password?: string): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    await redis.connect()
    return await fn(redis)
  } finally {
    redis.disconnect()
  }
}

export class RedisServer {
  readonly name: string
  readonly port: number
  readonly dir: string
  readonly password: string | undefined
  readonly #args: string[]
  readonly #onLine: LineListener | undefined
  process!: ManagedProcess

  private constructor (name: string, port: number, dir: string, args: string[], password: string | undefined, onLine?: LineListener) {
    this.name = name
    this.port = port
    this.dir = dir
    this.password = password
    this.#args = args
    this.#onLine = onLine
  }

  /** On `options.port`, or on a free port (another one if it is taken before Redis binds it). */
  static async start (options: RedisServerOptions): Promise<RedisServer> {
    // Its files hold live session ids: for its owner only (Redis creates them 0644).
    mkdirSync(options.dir, { recursive: true, mode: 0o700 })
    chmodSync(options.dir, 0o700)
    return await startOnFreePort(options.port, async port => {
      const args = options.sentinelConfig
        ? [options.sentinelConfig, '--sentinel', '--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir]
        : ['--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir, '--save', '',
            '--appendonly', options.persistence === false ? 'no' : 'yes', '--appendfsync', 'everysec',
            ...(options.password === undefined ? [] : ['--requirepass', options.password]), ...(options.args ?? [])]
      const server = new RedisServer(options.name ?? 'redis', port, options.dir, args, options.password, options.onLine)
      await server.#spawn()
      return server
    })
  }

  get url (): string {
    return `redis://${this.password === undefined ? '' : `:${encodeURIComponent(this.password)}@`}127.0.0.1:${this.port}`
  }

  async #spawn (): Promise<void> {
    this.process = new ManagedProcess(this.name, currentEngine().server, this.#args, { PATH: process.env.PATH }, this.#onLine)
    await this.process.untilReady(`${this.name} on port ${this.port}`, async () => {
      const reply = await redisCommand(this.port, 'PING', undefined, this.password)
      // NOAUTH: up, and wants a password not given here (so it cannot be asked whose it is); with this server's
      // own password, another server. LOADING while it reads the append-only file back: not ready yet.
      if (reply.startsWith('-NOAUTH')) return this.password === undefined ? true : undefined
      if (reply !== '+PONG') return undefined
      // Another server that took the port first would answer too: ready only when it is this process.
      const info = await withClient(this.port, async redis => await redis.info('server'), this.password)
      return Number(/process_id:(\d+)/.exec(info)?.[1]) === this.process.pid ? true : undefined
    })
  }

  /** A clean shutdown: SHUTDOWN flushes the append-only file first (SIGTERM does too, when SHUTDOWN is refused). */
  async stop (): Promise<void> {
    if (!this.process.alive) return
    await redisCommand(this.port, 'SHUTDOWN', undefined, this.password).catch(() => {})
    await this.process.stop(scaled(5000))
  }

  /** A crash: SIGKILL, nothing flushed beyond what already reached the OS. */
  async kill (): Promise<void> {
    await this.process.kill()
  }

  /** Starts it again on the same port and data directory (it reloads the append-only file). */
  async restart (): Promise<void> {
    if (this.process.alive) await this.stop()
    await this.#spawn()
  }
}
