// One replica: the real server entry point as its own Node process on a loopback port.
import { get } from 'node:http'
import { type Exit, type LineListener, ManagedProcess, pollUntil } from './processes.ts'
import { SERVER_ENTRY } from './paths.ts'

export interface ReplicaOptions {
  name: string
  port: number
  /** The replica's configuration (see services/config.ts); nothing else is inherited but PATH. */
  env: Record<string, string>
  onLine?: LineListener
  /** Extra Node flags, e.g. ['--cpu-prof'] for profiling. */
  nodeArgs?: string[]
}

export class Replica {
  readonly name: string
  readonly port: number
  #options: ReplicaOptions
  process!: ManagedProcess

  private constructor (options: ReplicaOptions) {
    this.name = options.name
    this.port = options.port
    this.#options = options
  }

  static async start (options: ReplicaOptions): Promise<Replica> {
    const replica = new Replica(options)
    await replica.#spawn()
    return replica
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
    const { name, port, env, onLine, nodeArgs = [] } = this.#options
    this.process = new ManagedProcess(name, process.execPath, [...nodeArgs, SERVER_ENTRY], {
      PATH: process.env.PATH,
      ...env,
      REPLICA_NAME: name,
      HOST: '127.0.0.1',
      PORT: String(port)
    }, onLine)
    const died = this.process.exited.then(exit => {
      throw new Error(`${name} exited (${exit.code ?? exit.signal}) while starting:\n${this.process.tail.join('\n')}`)
    })
    await Promise.race([died, pollUntil(`${name} to listen on ${port}`, async () => {
      return await probe(`${this.url}/health/live`) === 200 ? true : undefined
    }, 15_000)])
    died.catch(() => {})
  }

  /** Graceful stop: SIGTERM, the replica finishes what it has and exits within its grace time. */
  async stop (graceMs = 15_000): Promise<Exit> {
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

  /** Starts it again, same name and port; `env` changes its configuration (a deploy). */
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
async function probe (url: string): Promise<number | undefined> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, res => {
      res.resume()
      resolve(res.statusCode)
    }).on('error', reject)
  })
}
