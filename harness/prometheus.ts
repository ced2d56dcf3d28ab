// Prometheus for a local stack: the scrape config for its replicas (npm start writes it for the user), and a real
// Prometheus process (Debian's `prometheus`) on a free loopback port with its own data directory, for the tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary } from './binaries.ts'
import { freePort } from './ports.ts'
import { type LineListener, ManagedProcess, pollUntil } from './processes.ts'

/** Anything that serves Prometheus metrics: a replica (its `metricsUrl`, null when off). */
export interface ScrapeTarget {
  name: string
  metricsUrl: string | null
}

/** A prometheus.yml that scrapes these replicas. Each series already carries its replica's name (a default label). */
export function scrapeConfig (targets: ScrapeTarget[], interval = '5s'): string {
  const addresses = targets.flatMap(t => t.metricsUrl ? [new URL(t.metricsUrl).host] : [])
  if (addresses.length === 0) throw new Error('no replica serves metrics (METRICS_PORT=0?)')
  return `# Written by the start command for the stack it started; its ports change only with METRICS_BASE_PORT.
global:
  scrape_interval: ${interval}
  evaluation_interval: ${interval}
scrape_configs:
  - job_name: replicas
    static_configs:
      - targets: [${addresses.map(a => `'${a}'`).join(', ')}]
`
}

/** Writes the scrape config for `npm start` into `dir` and says where everything is, as lines to print. */
export function writeScrapeConfig (dir: string, replicas: ScrapeTarget[], nginxStatusUrl: string): string[] {
  const lines = replicas.map(r => `  ${r.name.padEnd(10)} ${r.metricsUrl ?? 'off (METRICS_PORT=0)'}`)
  lines.push(`  ${'nginx'.padEnd(10)} ${nginxStatusUrl} (stub_status)`)
  if (!replicas.some(r => r.metricsUrl)) return ['Metrics:', ...lines]
  const path = join(dir, 'prometheus.yml')
  writeFileSync(path, scrapeConfig(replicas))
  return ['Metrics (not on the public port):', ...lines,
    `Prometheus scrape config: ${path}; to graph requests per replica:`,
    `  prometheus --config.file=${path} --storage.tsdb.path=${join(dir, 'prometheus')} --web.listen-address=127.0.0.1:9090`,
    '  then http://127.0.0.1:9090/graph?g0.expr=sum%20by%20(replica)%20(rate(http_request_duration_seconds_count%5B1m%5D))']
}

export interface PrometheusOptions {
  targets: ScrapeTarget[]
  /** e.g. '1s' for tests. */
  scrapeInterval: string
  port?: number
  onLine?: LineListener
}

export interface Sample {
  metric: Record<string, string>
  value: number
}

/** A real Prometheus on 127.0.0.1, its config and data in a temporary directory removed at stop. */
export class Prometheus {
  readonly port: number
  readonly dir: string
  process!: ManagedProcess

  private constructor (port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  static async start (options: PrometheusOptions): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'prometheus-'))
    const prometheus = new Prometheus(options.port ?? await freePort(), dir)
    try {
      const config = join(dir, 'prometheus.yml')
      writeFileSync(config, scrapeConfig(options.targets, options.scrapeInterval))
      mkdirSync(join(dir, 'data'))
      prometheus.process = new ManagedProcess('prometheus', findBinary('prometheus'), [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${prometheus.port}`,
        '--log.level=warn'
      ], { PATH: process.env.PATH }, options.onLine)
      const died = prometheus.process.exited.then(exit => {
        throw new Error(`prometheus exited (${exit.code ?? exit.signal}):\n${prometheus.process.tail.join('\n')}`)
      })
      await Promise.race([died, pollUntil(`prometheus on port ${prometheus.port}`, async () => {
        const res = await fetch(`${prometheus.url}/-/ready`)
        return res.ok ? true : undefined
      }, 20_000, 100)])
      died.catch(() => {})
      return prometheus
    } catch (err) {
      await prometheus.stop()
      throw err
    }
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** An instant PromQL query through the HTTP API (/api/v1/query). */
  async query (promql: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`)
    const body = await res.json() as { status: string, error?: string, data?: { resultType: string, result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
    if (body.status !== 'success' || !body.data) throw new Error(`query ${promql} failed: ${body.error ?? res.status}`)
    if (body.data.resultType !== 'vector') throw new Error(`query ${promql} gave a ${body.data.resultType}, not a vector`)
    return body.data.result.map(r => ({ metric: r.metric, value: Number(r.value[1]) }))
  }

  /** Stops it and removes its config and data. */
  async stop (): Promise<void> {
    await this.process?.stop(10_000)
    rmSync(this.dir, { recursive: true, force: true })
  }
}
