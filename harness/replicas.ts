// One replica: the real server entry point as its own Node process on a loopback port. Unless told a port, it
// binds port 0 and the harness' preload reports the port it got over an IPC channel (report-port.ts), so no two
// runs collide.
import { get } from 'node:http'
import type { FakeClock } from './fake-clock.ts'
import { type Exit, type LineListener, ManagedProcess } from './processes.ts'
import { REPORT_PORT_PRELOAD, SERVER_ENTRY } from './paths.ts'
import { scaled } from './timeouts.ts'

export interface ReplicaOptions {
  name: string
  /** 0 or unset: the OS picks one at the first start; restarts keep it (nginx knows the replica by it). */
  port?: number
  /** The replica's configuration (see services/config.ts); nothing else is inherited but PATH. */
  env: Record<string, string>
  onLine?: LineListener
  /** Extra Node flags, e.g. ['--cpu-prof'] for profiling. */
  nodeArgs?: string[]
  /** The entry point (default: services/server); the benchmark runs its own. */
  entry?: string
  /** Runs on this wall clock, which a test can step (harness/fake-clock.ts). */
  clock?: FakeClock
}

export class Replica {
  readonly name: string
  #port: number
  #options: ReplicaOptions
  process!: ManagedProcess

  private constructor (options: ReplicaOptions) {
    this.name = options.name
    this.#port = options.port ?? 0
    this.#options = options
  }

  static async start (options: ReplicaOptions): Promise<Replica> {
    const replica = new Replica(options)
    await replica.#spawn()
    return replica
  }

  get port (): number {
    return this.#port
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Where its Prometheus metrics are served (its METRICS_PORT), or null when they are off. */
  get metricsUrl (): string | null {
    const port = Number(this.#options.env.METRICS_PORT ?? 0)
    return port > 0 ? `http://127.0.0.1:${port}/metrics` : null
  }

  get pid (): number {
    return this.process.pid
  }

  async #spawn (): Promise<void> {
    const { name, env, onLine, nodeArgs = [], entry = SERVER_ENTRY, clock } = this.#options
    this.process = new ManagedProcess(name, process.execPath, ['--import', REPORT_PORT_PRELOAD, ...nodeArgs, entry], {
      PATH: process.env.PATH,
      ...clock?.env(),
      ...env,
      REPLICA_NAME: name,
      HOST: '127.0.0.1',
      PORT: String(this.#port)
    }, onLine, { ipc: true })
    if (this.#port === 0) reportedPort(this.process).then(port => { this.#port = port }, () => {})
    await this.process.untilReady(`${name} to listen`, async () => {
      if (this.#port === 0) return undefined
      return await probe(`${this.url}/health/live`) === 200 ? true : undefined
    })
  }

  /** Graceful stop: SIGTERM, the replica finishes what it has and exits within its grace time. */
  async stop (graceMs = scaled(15_000)): Promise<Exit> {
    return await this.process.stop(graceMs)
  }

  /** A crash: SIGKILL. */
  async kill (): Promise<void> {
    await this.process.kill()
  }

  /** A hang: the process stops running but keeps its sockets (SIGSTOP), until `resume`. */
  pause (): void {
    this.process.signal('SIGSTOP')
  }

  resume (): void {
    this.process.signal('SIGCONT')
  }

  /** Starts it again, same name and port (a port the OS picked is taken again: nginx knows the replica by it); `env` changes its configuration (a deploy). */
  async restart (env: Record<string, string> = {}): Promise<void> {
    if (this.process.alive) await this.stop()
    this.#options = { ...this.#options, env: { ...this.#options.env, ...env } }
    await this.#spawn()
  }
}

/**
 * The status of a GET sent on a connection of its own, closed with the answer: a start-up probe must not leave
 * a kept-alive connection to the replica behind (a stopping replica waits for its connections to end).
 */
export async function probe (url: string): Promise<number | undefined> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, res => {
      res.resume()
      resolve(res.statusCode)
    }).on('error', reject)
  })
}

/** The port a replica started with PORT=0 got: the preload (report-port.ts) sends it over the IPC channel once it listens. */
export async function reportedPort (replica: ManagedProcess): Promise<number> {
  return await new Promise(resolve => {
    const onMessage = (message: unknown) => {
      const port = (message as { listening?: unknown } | null)?.listening
      if (typeof port !== 'number') return
      replica.child.off('message', onMessage)
      resolve(port)
    }
    replica.child.on('message', onMessage)
  })
}
