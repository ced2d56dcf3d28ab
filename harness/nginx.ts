// A real nginx on loopback, configured from loadbalancer/nginx.conf.template. Every config it is given is
// checked with `nginx -t` first.
import { execFile } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, watch, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { renderLoadBalancer, renderLocalMain, type Upstream } from './nginx-config.ts'
import type { TlsFiles } from './self-signed-cert.ts'
import { findBinary } from './binaries.ts'
import { freePort, startOnFreePort } from './ports.ts'
import { type LineListener, ManagedProcess } from './processes.ts'
import { scaled } from './timeouts.ts'

export interface NginxOptions {
  port?: number
  /** stub_status (nginx's own counters) on 127.0.0.1, never on the public port; a free port when unset. */
  statusPort?: number
  dir: string
  upstreams: Upstream[]
  /** Access log: 'file' (the default: dir/access.log, whose lines also reach onLine), or 'off'. */
  accessLog?: 'file' | 'off'
  workerProcesses?: number
  onLine?: LineListener
  /** HTTPS too, on 127.0.0.1 beside the HTTP port, with this certificate and key. */
  tls?: NginxTls
  /** Proxies in front of nginx (addresses, CIDRs) whose X-Forwarded-For and X-Forwarded-Proto nginx believes. */
  trustedProxies?: string[]
  /** The replicas' BALANCER_SECRET, sent with every request (the config file holding it is for its owner only). */
  balancerSecret?: string
}

export interface NginxTls extends TlsFiles {
  /** The HTTPS port; a free one when unset. */
  port?: number
  /** Plain HTTP answers 308 to the same path over HTTPS (nginx's own /lb/health excepted). */
  redirectHttp?: boolean
}

/** `nginx -t` on a main config file; throws with nginx's own words when it fails. */
export async function testNginxConfig (mainConfig: string): Promise<string> {
  try {
    const { stderr } = await promisify(execFile)(findBinary('nginx'), ['-t', '-q', '-c', mainConfig])
    return stderr
  } catch (err) {
    throw new Error(`nginx -t rejected ${mainConfig}:\n${(err as { stderr?: string }).stderr ?? String(err)}`)
  }
}

/** Follows a file as it grows and hands over each complete line. */
function tailLines (path: string, onLine: (line: string) => void): () => void {
  writeFileSync(path, '', { flag: 'a' })
  let offset = statSync(path).size
  let rest = ''
  const read = () => {
    // A log removed under a running nginx (its directory deleted) ends the tail, not the process that reads it.
    let size: number
    try {
      size = statSync(path).size
    } catch {
      return
    }
    if (size <= offset) return
    const fd = openSync(path, 'r')
    const chunk = Buffer.alloc(size - offset)
    readSync(fd, chunk, 0, chunk.length, offset)
    closeSync(fd)
    offset = size
    const lines = (rest + chunk.toString()).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) onLine(line)
  }
  const watcher = watch(path, read)
  return () => watcher.close()
}

export class Nginx {
  readonly port: number
  /** The HTTPS port, when nginx serves HTTPS. */
  readonly httpsPort: number | undefined
  readonly statusPort: number
  readonly dir: string
  readonly mainConfig: string
  readonly #includeFile: string
  readonly #options: NginxOptions
  process!: ManagedProcess
  #stopTail = () => {}

  private constructor (port: number, httpsPort: number | undefined, statusPort: number, options: NginxOptions) {
    this.port = port
    this.httpsPort = httpsPort
    this.statusPort = statusPort
    this.dir = options.dir
    this.mainConfig = join(options.dir, 'nginx.conf')
    this.#includeFile = join(options.dir, 'loadbalancer.conf')
    this.#options = options
  }

  /** On `options.port`, or on a free port (another one if it is taken before nginx binds it). */
  static async start (options: NginxOptions): Promise<Nginx> {
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      // Workers run unprivileged when nginx starts as root: they must be able to write here.
      mkdirSync(join(options.dir, 'tmp', sub), { recursive: true, mode: 0o777 })
    }
    const statusPort = options.statusPort ?? await freePort()
    return await startOnFreePort(options.port, async port => {
      // Picked with the HTTP port, so that a retry after a taken port picks both anew.
      const httpsPort = options.tls ? options.tls.port ?? await freePort() : undefined
      const nginx = new Nginx(port, httpsPort, statusPort, options)
      await nginx.#spawn()
      return nginx
    })
  }

  async #spawn (): Promise<void> {
    const options = this.#options
    await this.#writeConfig(options.upstreams)
    this.process = new ManagedProcess('nginx', findBinary('nginx'), ['-c', this.mainConfig], { PATH: process.env.PATH }, options.onLine)
    await this.process.untilReady(`nginx on port ${this.port}`, async () => {
      // nginx writes its pid file once it has bound its port: until then, whoever answers is not this nginx.
      if (Number(readFileSync(join(this.dir, 'nginx.pid'), 'utf8')) !== this.process.pid) return undefined
      return (await fetch(`${this.url}/lb/health`)).ok ? true : undefined
    })
    if (options.onLine && options.accessLog !== 'off') this.#stopTail = tailLines(this.accessLogPath, line => options.onLine!('nginx', line, 'stdout'))
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** The same site over HTTPS, when nginx serves it. */
  get httpsUrl (): string | undefined {
    return this.httpsPort === undefined ? undefined : `https://127.0.0.1:${this.httpsPort}`
  }

  /** nginx's stub_status page (active connections, accepts, handled, requests). */
  get statusUrl (): string {
    return `http://127.0.0.1:${this.statusPort}/nginx_status`
  }

  /** A file, not /dev/stdout: Node gives children sockets for stdio, which nginx cannot open as a path. */
  get accessLogPath (): string {
    return join(this.dir, 'access.log')
  }

  async #writeConfig (upstreams: Upstream[]): Promise<void> {
    const { tls, trustedProxies, balancerSecret } = this.#options
    writeFileSync(this.#includeFile, renderLoadBalancer({
      listen: `127.0.0.1:${this.port}`,
      statusListen: `127.0.0.1:${this.statusPort}`,
      upstreams,
      accessLog: this.#options.accessLog === 'off' ? 'off' : `${this.accessLogPath} upstreams`,
      tls: tls && {
        listen: `127.0.0.1:${this.httpsPort!}`,
        cert: tls.cert,
        key: tls.key,
        redirectPort: tls.redirectHttp ? this.httpsPort : undefined
      },
      trustedProxies,
      balancerSecret
    }), { mode: 0o600 })
    writeFileSync(this.mainConfig, renderLocalMain(this.dir, this.#includeFile, this.#options.workerProcesses ?? 1))
    await testNginxConfig(this.mainConfig)
  }

  /** Graceful stop (SIGQUIT: finish in-flight requests), then SIGKILL if it takes too long. */
  async stop (): Promise<void> {
    await this.process.stop(scaled(5000), 'SIGQUIT')
    this.#stopTail()
  }
}
