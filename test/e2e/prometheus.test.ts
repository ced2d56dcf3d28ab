// A real Prometheus (Debian's `prometheus`) scraping the three replicas of a local stack every second: what
// an operator would read in it after known traffic and a Redis outage, asked in PromQL through its HTTP API.
// And the compose monitoring profile's Prometheus config, checked by promtool and docker-compose.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { findBinary } from '../../harness/binaries.ts'
import { Browser } from '../../harness/client.ts'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { pollUntil } from '../../harness/processes.ts'
import { Prometheus, type Sample } from '../../harness/prometheus.ts'
import { SETTINGS } from '../../services/config.ts'
import { startStack } from '../helpers/stack.ts'

const VISITS = 300
const OUTAGE_VISITS = 12

t.test('Prometheus scrapes every replica: requests per replica, the hot route\'s latency, a Redis outage', async t => {
  const stack = await startStack(t)
  const prometheus = await Prometheus.start({ targets: stack.replicas, scrapeInterval: '1s' })
  t.teardown(async () => { await prometheus.stop() })

  /** Polls a query until `accept` takes its samples (scrapes come every second). */
  const until = async <T>(what: string, promql: string, accept: (samples: Sample[]) => T | undefined): Promise<T> =>
    await pollUntil(what, async () => accept(await prometheus.query(promql)), 20_000, 250)
  const scalar = (samples: Sample[]) => samples.length === 1 ? samples[0]!.value : undefined
  /** One sample per replica, each accepted by `ok`. */
  const eachReplica = (ok: (value: number) => boolean) => (s: Sample[]) => s.length === 3 && s.every(x => ok(x.value)) ? s : undefined

  const up = await until('every replica scraped', 'up', eachReplica(v => v === 1))
  t.equal(up.length, 3, 'three targets, each up == 1: Prometheus parsed every replica\'s exposition')

  t.equal((await fetch(`${stack.url}/metrics`)).status, 404, '/metrics through nginx\'s public port: 404')
  t.equal((await fetch(`${stack.url}/nginx_status`)).status, 404, 'and so is nginx\'s stub_status')
  const status = await fetch(stack.nginx.statusUrl)
  t.equal(status.status, 200, 'which its own loopback listener serves')
  t.match(await status.text(), /^Active connections: \d+/)

  const user = new Browser(stack.url)
  await user.login('prometheus-watcher')
  for (let i = 0; i < VISITS; i++) {
    const res = await user.get('/')
    if (res.status !== 200) throw new Error(`visit ${i}: ${res.status}`)
  }

  const perReplica = await until(`${VISITS} visits in Prometheus`, 'sum by (replica) (http_request_duration_seconds_count{route="/",method="GET",status_code="200"})',
    s => s.reduce((sum, x) => sum + x.value, 0) === VISITS ? s : undefined)
  t.same(perReplica.map(s => s.metric.replica).sort(), stack.replicas.map(r => r.name), 'every replica served some, by its name')
  t.ok(perReplica.every(s => s.value > 0), `per replica: ${perReplica.map(s => `${s.metric.replica} ${s.value}`).join(', ')}; sum ${VISITS}`)
  t.equal(scalar(await prometheus.query('sum(logins_total)')), 1, 'one login')

  t.equal(scalar(await prometheus.query('sum(http_request_duration_seconds_bucket{route="/",le="+Inf"})')), VISITS, 'the hot route\'s histogram holds every visit')
  const fast = scalar(await prometheus.query('sum(http_request_duration_seconds_bucket{route="/",le="0.1"})'))!
  t.ok(fast > 0, `${fast} of them under 100 ms`)
  const p99 = scalar(await prometheus.query('histogram_quantile(0.99, sum by (le) (http_request_duration_seconds_bucket{route="/"}))'))!
  t.ok(p99 > 0 && p99 <= 3, `p99 from the histogram: ${(p99 * 1000).toFixed(1)} ms`)
  t.ok(scalar(await prometheus.query('sum(session_store_operation_duration_seconds_count{operation="load",outcome="ok"})'))! >= VISITS, 'each visit loaded its session')

  // Redis stops: every visit is a 503 from the replica, counted as a failed load, and every replica says it has no connection.
  await stack.redis!.stop()
  const statuses: number[] = []
  for (let i = 0; i < OUTAGE_VISITS; i++) statuses.push((await user.get('/')).status)
  t.same(statuses, Array(OUTAGE_VISITS).fill(503), `${OUTAGE_VISITS} visits during the outage: 503 each`)
  await until('the failed loads', 'sum(session_store_operation_duration_seconds_count{operation="load",outcome="error"})', s => scalar(s) === OUTAGE_VISITS || undefined)
  t.pass(`${OUTAGE_VISITS} failed loads: one per 503`)
  await until('every replica\'s Redis gauge at 0', 'redis_connection_ready', eachReplica(v => v === 0))
  t.pass('redis_connection_ready is 0 on all three replicas')
  t.equal(scalar(await prometheus.query('sum(http_request_duration_seconds_count{route="/",status_code="503"})')), OUTAGE_VISITS, 'the 503s by route')

  await stack.redis!.restart()
  await until('every replica\'s Redis gauge back at 1', 'redis_connection_ready', eachReplica(v => v === 1))
  t.pass('redis_connection_ready back to 1 on all three')
  await until('a reconnect per replica', 'redis_reconnects_total', eachReplica(v => v >= 1))
  t.pass('each replica counted its reconnect')
  t.equal((await user.get('/')).status, 200, 'and the user is served again')
})

t.test('compose\'s monitoring profile: Prometheus finds every replica through Docker\'s DNS; no metrics port is published', async t => {
  const configFile = join(PROJECT_ROOT, 'monitoring', 'prometheus.yml')
  const run = promisify(execFile)
  const check = await run(findBinary('promtool'), ['check', 'config', configFile])
  t.match(check.stdout, /SUCCESS/, 'promtool accepts monitoring/prometheus.yml')
  const metricsPort = SETTINGS.METRICS_PORT.default
  const replicasJob = (parse(readFileSync(configFile, 'utf8')) as { scrape_configs: Array<{ job_name: string, dns_sd_configs?: unknown[] }> })
    .scrape_configs.find(j => j.job_name === 'replicas')
  t.same(replicasJob?.dns_sd_configs?.[0], { names: ['app'], type: 'A', port: metricsPort, refresh_interval: '5s' },
    'the replicas job: one A record per `app` container, on the default METRICS_PORT')

  const { stdout } = await run(findBinary('docker-compose'), ['-f', join(PROJECT_ROOT, 'docker-compose.yml'), '--profile', 'monitoring', 'config'], { cwd: PROJECT_ROOT })
  const { services } = parse(stdout) as { services: Record<string, { ports?: unknown, volumes?: unknown, command?: string[] }> }
  t.match(JSON.stringify(services.prometheus?.volumes), /monitoring\/prometheus\.yml/, 'its Prometheus mounts that file')
  t.match(JSON.stringify(services.prometheus?.ports), /127\.0\.0\.1.*9090/, 'and is published on loopback only')
  t.notOk(services.app?.ports, 'the replicas publish nothing (their METRICS_PORT included)')
  t.notMatch(JSON.stringify(services.nginx?.ports), /8081/, 'nginx publishes its public port, not stub_status')
  t.match(services['nginx-exporter']?.command?.join(' '), /nginx:8081\/nginx_status/, 'which the exporter reads inside the network')
})
