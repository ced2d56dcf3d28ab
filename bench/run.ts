// `npm run bench`: starts the topology through the shared harness (or measures a running one with --url), runs the
// scenarios in alternation, and writes a JSON report, a Markdown table and an SVG chart: to the git-ignored
// .run/bench/ (or --out), and to bench/results/ only for a reference run (--reference).
import type { Options } from 'autocannon'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, hostname } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { findBinary } from '../harness/binaries.ts'
import { engineVersion } from '../harness/engines.ts'
import { Browser, visitsOf } from '../harness/client.ts'
import { LocalStack } from '../harness/local-stack.ts'
import { BENCH_REPLICA_ENTRY, PROJECT_ROOT, RUN_DIR } from '../harness/paths.ts'
import { exitWithChildrenOnSignals } from '../harness/processes.ts'
import { renderChart } from './chart.ts'
import { fire, unexpectedAnswers } from './fire.ts'
import { cpuSample, type ProcessGroups, withChildren } from './cpu.ts'
import { commandCalls, clientCommandsBetween } from './redis-stats.ts'
import { renderMarkdown, type Report, type Run } from './report.ts'
import { SCENARIOS, type Target } from './scenarios.ts'
import { goals, resultStem, summarize } from './summary.ts'
import { keyPatterns } from '../services/session-store/keys.ts'

interface Settings {
  durationSeconds: number
  connections: number
  replicas: number
  rounds: number
  warmupSeconds: number
  bytesSessions: number
  lostUpdateVisits: number
  scenarios: string[]
}

const progress = (line: string) => console.log(`[bench] ${line}`)

/** One benchmark run: the stack it measures (started here, or a running one) and what it has found so far. */
class Bench {
  readonly settings: Settings
  readonly target: Target
  /** Set when the benchmark started the stack itself (then it may empty its Redis and read its processes' CPU). */
  readonly stack: LocalStack | undefined
  readonly redis: Redis | undefined
  /** Scenarios left out, and why: said in the report rather than failing the run. */
  readonly skipped: Array<{ scenario: string, why: string }> = []

  private constructor (settings: Settings, target: Target, stack: LocalStack | undefined, redisUrl: string | undefined) {
    this.settings = settings
    this.target = target
    this.stack = stack
    this.redis = redisUrl ? new Redis(redisUrl) : undefined
  }

  /** Measures the stack at `url`, or starts one when there is none. */
  static async open (settings: Settings, url: string | undefined, redisUrl: string | undefined): Promise<Bench> {
    if (url) {
      const bench = new Bench(settings, { url: url.replace(/\/$/, '') }, undefined, redisUrl)
      await bench.#checkTarget()
      bench.skip('direct', 'needs one replica\'s address (only when the benchmark starts the stack)')
      return bench
    }
    progress(`starting Redis, ${settings.replicas} replicas and nginx`)
    const stack = await LocalStack.start({
      replicas: settings.replicas,
      env: { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0' },
      replicaEntry: BENCH_REPLICA_ENTRY,
      accessLog: 'off'
    })
    return new Bench(settings, { url: stack.url, replicaUrl: stack.replicas[0]!.url }, stack, stack.redisUrl)
  }

  skip (scenario: string, why: string): void {
    if (!this.settings.scenarios.includes(scenario)) return
    this.settings.scenarios = this.settings.scenarios.filter(s => s !== scenario)
    this.skipped.push({ scenario, why })
    progress(`skipping ${scenario}: ${why}`)
  }

  async close (): Promise<void> {
    await this.redis?.quit()
    await this.stack?.stop()
  }

  /**
   * A stack we did not start must let the benchmark log in hundreds of times, and may lack the whole-JSON routes
   * (they need dev dependencies, so the Docker image has none).
   */
  async #checkTarget (): Promise<void> {
    const url = this.target.url
    const login = await new Browser(url).post('/login', { username: 'bench-probe' })
    if (login.status === 429 || login.headers.has('x-ratelimit-limit')) {
      console.error(`[bench] ${url} limits logins per client (LOGIN_RATE_LIMIT), and the benchmark logs in hundreds of times.\n` +
        '[bench] Start its replicas with LOGIN_RATE_LIMIT=0 (npm start: LOGIN_RATE_LIMIT=0 npm start; compose: LOGIN_RATE_LIMIT=0 docker compose up).')
      process.exit(2)
    }
    if (login.status !== 302) throw new Error(`${url}: POST /login answered ${login.status}, not the site this benchmark measures`)
    if ((await new Browser(url).get('/blob/')).status === 404) {
      this.skip('blob', `${url} has no whole-JSON routes (/blob/): its replicas run services/server, not the benchmark's bench/replica (which needs the dev dependencies)`)
    }
    if ((await new Browser(url).get('/trip/')).status === 404) {
      this.skip('trip', `${url} has no one-round-trip route (/trip/): its replicas run services/server, not the benchmark's bench/replica`)
    }
  }

  async #commandStats (): Promise<Record<string, number>> {
    return this.redis ? await commandCalls(this.redis) : {}
  }

  /** The processes of the stack, when the harness started it (autocannon runs in this process). */
  #processGroups (): ProcessGroups {
    if (!this.stack) return {}
    return {
      replicas: this.stack.replicas.map(r => r.pid),
      nginx: withChildren(this.stack.nginx.process.pid),
      redis: this.stack.redis ? [this.stack.redis.process.pid] : [],
      'load generator': [process.pid]
    }
  }

  async measure (name: string, options: Partial<Options> & { url: string, expectStatus?: number }, seconds: number): Promise<Run> {
    const { expectStatus = 200, ...rest } = options
    const groups = this.#processGroups()
    const before = await this.#commandStats()
    const cpuBefore = cpuSample(groups)
    const result = await fire({ connections: this.settings.connections, duration: seconds, ...rest })
    const cpuAfter = cpuSample(groups)
    const after = await this.#commandStats()
    const used: Record<string, number> = {}
    for (const [cmd, n] of Object.entries(after)) if (n !== (before[cmd] ?? 0) && cmd !== 'info') used[cmd] = n - (before[cmd] ?? 0)
    const total = result.requests.total || 1
    const unexpected = unexpectedAnswers(result, expectStatus)
    const clientCommands = clientCommandsBetween(before, after)
    return {
      scenario: name,
      requestsPerSecond: result.requests.average,
      latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      requests: result.requests.total,
      errors: result.errors + result.timeouts,
      unexpectedStatus: unexpected,
      redisCommandsPerRequest: this.redis ? clientCommands / total : null,
      cpuMicrosecondsPerRequest: Object.fromEntries(Object.keys(groups).map(g => [g, ((cpuAfter[g]! - cpuBefore[g]!) * 1000) / total])),
      redisCommands: Object.fromEntries(Object.entries(used).map(([c, n]) => [c, Math.round((n / total) * 100) / 100]))
    }
  }

  /** used_memory per session over `count` logins, and MEMORY USAGE of one session (+ its user index). */
  async bytesPerSession (loginPath: string, keyPattern: string, indexPattern: string | undefined, count: number) {
    const redis = this.redis
    if (!redis) return null
    await redis.flushall()
    const memory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1])
    const before = await memory()
    const result = await fire({
      url: `${this.target.url}${loginPath}`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=user-[<id>]',
      idReplacement: true,
      connections: 8,
      amount: count
    })
    const after = await memory()
    const [key] = await redis.keys(keyPattern)
    const [index] = indexPattern ? await redis.keys(indexPattern) : []
    const sessions = (await redis.keys(keyPattern)).length
    const measured = {
      sessions,
      logins: result.requests.total,
      usedMemoryPerSession: Math.round((after - before) / sessions),
      memoryUsageOfOne: key ? Number(await redis.memory('USAGE', key)) : null,
      memoryUsageOfIndex: index ? Number(await redis.memory('USAGE', index)) : null
    }
    if (!indexPattern) return measured
    // The session alone: the same memory once every user index is gone.
    const indexes = await redis.keys(indexPattern)
    for (let i = 0; i < indexes.length; i += 1000) await redis.del(...indexes.slice(i, i + 1000))
    return { ...measured, usedMemoryPerSessionAlone: Math.round((await memory() - before) / sessions) }
  }

  /** One cookie, 50 connections, N visits: how many increments survive. */
  async lostUpdates (loginPath: string, visitPath: string, cookieName: string, visits: number) {
    const browser = new Browser(this.target.url)
    await browser.post(loginPath, { username: `race-${cookieName}` })
    const cookie = `${cookieName}=${browser.cookies.get(cookieName)}`
    await fire({ url: `${this.target.url}${visitPath}`, headers: { cookie }, connections: 50, amount: visits })
    const final = visitsOf((await browser.get(visitPath)).text) ?? 0
    const counted = final - 1 // the read above is a visit too
    return { visits, counted, lost: visits - counted }
  }

  /** Every chosen scenario, warmed up, then measured round by round; then memory and lost updates. */
  async run (quick: boolean, url: string | undefined): Promise<Report> {
    const settings = this.settings
    const chosen = SCENARIOS.filter(s => settings.scenarios.includes(s.name))
    const prepared = []
    for (const scenario of chosen) {
      progress(`preparing ${scenario.name} (${scenario.what})`)
      const options = await scenario.prepare(this.target, settings.connections)
      progress(`warming up ${scenario.name}`)
      await this.measure(scenario.name, options, settings.warmupSeconds)
      prepared.push({ scenario, options })
    }
    const runs: Run[] = []
    for (let round = 1; round <= settings.rounds; round++) {
      // A B C A B C …: drift of the machine hits every scenario alike.
      for (const { scenario, options } of prepared) {
        const run = await this.measure(scenario.name, options, settings.durationSeconds)
        runs.push(run)
        progress(`round ${round}/${settings.rounds} ${scenario.name.padEnd(11)} ${Math.round(run.requestsPerSecond)} req/s, p99 ${run.latency.p99} ms` +
          (run.errors + run.unexpectedStatus ? `, ${run.errors} errors, ${run.unexpectedStatus} unexpected statuses` : ''))
      }
    }
    // Only on the Redis the benchmark started: it empties it first.
    let bytes: Report['bytesPerSession'] = { ours: null, blob: null }
    if (this.stack) {
      progress('memory per session (our store, then the whole-JSON store)')
      bytes = {
        ours: await this.bytesPerSession('/login', keyPatterns('sess:').sessions, keyPatterns('sess:').indexes, settings.bytesSessions),
        blob: await this.bytesPerSession('/blob/login', 'blob:*', undefined, settings.bytesSessions)
      }
    }
    progress('lost updates with one cookie and 50 connections')
    const lost = {
      ours: await this.lostUpdates('/login', '/', 'sid', settings.lostUpdateVisits),
      blob: this.skipped.some(s => s.scenario === 'blob') ? null : await this.lostUpdates('/blob/login', '/blob/', 'blobsid', settings.lostUpdateVisits)
    }
    const scenarios = summarize(runs, name => SCENARIOS.find(s => s.name === name)!.what)
    return {
      date: new Date().toISOString(),
      host: hostname(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      quick,
      settings: { ...settings, target: url ?? 'harness (local processes)' },
      versions: versions(),
      runs,
      scenarios,
      bytesPerSession: bytes,
      lostUpdates: lost,
      skipped: this.skipped,
      failed: runs.some(r => r.errors > 0 || r.unexpectedStatus > 0),
      goals: goals({ scenarios, bytesPerSession: bytes, lostUpdates: lost })
    }
  }
}

function versions () {
  const pkg = (name: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string
  // nginx prints its version on stderr, redis-server on stdout.
  const tool = (bin: string, flag: string) => {
    const run = spawnSync(findBinary(bin), [flag], { encoding: 'utf8' })
    return `${run.stdout}${run.stderr}`.trim()
  }
  return {
    node: process.version,
    nginx: tool('nginx', '-v'),
    redis: engineVersion(), // the engine the harness started (REDIS_ENGINE), not necessarily the host's
    packages: Object.fromEntries(['fastify', '@fastify/session', '@fastify/cookie', 'ioredis', 'connect-redis', 'autocannon', 'pino'].map(n => [n, pkg(n)]))
  }
}

async function main (): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      replicas: { type: 'string', default: '3' },
      scenarios: { type: 'string' },
      rounds: { type: 'string' },
      url: { type: 'string' },
      'redis-url': { type: 'string' },
      sessions: { type: 'string' },
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
      reference: { type: 'boolean', default: false }
    }
  })
  const quick = args.quick
  if (args.reference && (quick || args.out)) {
    console.error('[bench] --reference writes the full run to bench/results/: not with --quick (a smoke run measures nothing) or --out')
    process.exit(2)
  }
  const settings: Settings = {
    durationSeconds: Number(args.duration ?? (quick ? 1 : 8)),
    connections: Number(args.connections ?? (quick ? 8 : 32)),
    replicas: Number(args.replicas),
    rounds: Number(args.rounds ?? (quick ? 1 : 3)),
    warmupSeconds: quick ? 0.5 : 3,
    bytesSessions: Number(args.sessions ?? (quick ? 500 : 10_000)),
    lostUpdateVisits: quick ? 200 : 2000,
    scenarios: (args.scenarios ?? SCENARIOS.map(s => s.name).join(',')).split(',')
  }
  exitWithChildrenOnSignals()

  const bench = await Bench.open(settings, args.url, args['redis-url'])
  let report: Report
  try {
    report = await bench.run(quick, args.url)
  } finally {
    await bench.close()
  }

  const out = args.reference ? join(PROJECT_ROOT, 'bench', 'results') : args.out ?? join(RUN_DIR, 'bench')
  mkdirSync(out, { recursive: true })
  const stem = join(out, resultStem(report.date, report.host, { quick, reference: args.reference }))
  writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(`${stem}.md`, renderMarkdown(report))
  writeFileSync(`${stem}.svg`, renderChart(report))
  console.log(`\n${renderMarkdown(report)}`)
  progress(`wrote ${stem}.json, .md and .svg`)
  if (report.failed) {
    progress('FAILED: some requests errored or answered an unexpected status')
    process.exitCode = 1
  }
}

await main()
