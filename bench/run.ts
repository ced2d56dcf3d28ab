// `npm run bench`: starts the topology through the shared harness (or measures a running one with --url), runs the
// scenarios in alternation, and writes a JSON report, a Markdown table and an SVG chart to bench/results/.
import autocannon, { type Options, type Result } from 'autocannon'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, hostname } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { findBinary } from '../harness/binaries.ts'
import { Browser, visitsOf } from '../harness/client.ts'
import { LocalStack } from '../harness/local-stack.ts'
import { PROJECT_ROOT } from '../harness/paths.ts'
import { exitWithChildrenOnSignals } from '../harness/processes.ts'
import { renderChart } from './chart.ts'
import { cpuSample, type ProcessGroups, withChildren } from './cpu.ts'
import { renderMarkdown, type Report, type ScenarioResult, type Run } from './report.ts'
import { SCENARIOS, type Target } from './scenarios.ts'

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
    out: { type: 'string', default: join(PROJECT_ROOT, 'bench', 'results') },
    quick: { type: 'boolean', default: false }
  }
})
const quick = args.quick
const settings = {
  durationSeconds: Number(args.duration ?? (quick ? 1 : 8)),
  connections: Number(args.connections ?? (quick ? 8 : 32)),
  replicas: Number(args.replicas),
  rounds: Number(args.rounds ?? (quick ? 1 : 3)),
  warmupSeconds: quick ? 0.5 : 3,
  bytesSessions: Number(args.sessions ?? (quick ? 500 : 10_000)),
  lostUpdateVisits: quick ? 200 : 2000,
  scenarios: (args.scenarios ?? SCENARIOS.map(s => s.name).join(',')).split(',')
}
const progress = (line: string) => console.log(`[bench] ${line}`)
exitWithChildrenOnSignals()

// ---- the stack ---------------------------------------------------------------------------------------------
let stack: LocalStack | undefined
let target: Target
let redisUrl = args['redis-url']
/** Scenarios left out, and why: said in the report rather than failing the run. */
const skipped: Array<{ scenario: string, why: string }> = []
const skip = (scenario: string, why: string) => {
  if (!settings.scenarios.includes(scenario)) return
  settings.scenarios = settings.scenarios.filter(s => s !== scenario)
  skipped.push({ scenario, why })
  progress(`skipping ${scenario}: ${why}`)
}
if (args.url) {
  target = { url: args.url.replace(/\/$/, '') }
  await checkTarget(target.url)
  skip('direct', 'needs one replica\'s address (only when the benchmark starts the stack)')
} else {
  progress(`starting Redis, ${settings.replicas} replicas and nginx`)
  stack = await LocalStack.start({
    replicas: settings.replicas,
    env: { BENCH_BLOB_ROUTES: '1', LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0' },
    accessLog: 'off'
  })
  target = { url: stack.url, replicaUrl: stack.replicas[0]!.url }
  redisUrl = stack.redisUrl
}
const redis = redisUrl ? new Redis(redisUrl) : undefined

/**
 * A stack we did not start must let the benchmark log in hundreds of times, and may lack the whole-JSON routes
 * (they need dev dependencies, so the Docker image has none).
 */
async function checkTarget (url: string): Promise<void> {
  const login = await new Browser(url).post('/login', { username: 'bench-probe' })
  if (login.status === 429 || login.headers.has('x-ratelimit-limit')) {
    console.error(`[bench] ${url} limits logins per client (LOGIN_RATE_LIMIT), and the benchmark logs in hundreds of times.\n` +
      '[bench] Start its replicas with LOGIN_RATE_LIMIT=0 (npm start: LOGIN_RATE_LIMIT=0 npm start; compose: LOGIN_RATE_LIMIT=0 docker compose up).')
    process.exit(2)
  }
  if (login.status !== 302) throw new Error(`${url}: POST /login answered ${login.status}, not the site this benchmark measures`)
  if ((await new Browser(url).get('/blob/')).status === 404) {
    skip('blob', `${url} has no whole-JSON routes (/blob/): start its replicas with BENCH_BLOB_ROUTES=1 (needs the dev dependencies)`)
  }
}

// ---- measuring ---------------------------------------------------------------------------------------------
async function commandStats (): Promise<Record<string, number>> {
  if (!redis) return {}
  const calls: Record<string, number> = {}
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2])
  return calls
}

/** Commands a client sends (each one a round trip here); the rest run inside scripts. */
const CLIENT_COMMANDS = new Set(['evalsha', 'eval', 'get', 'set', 'setex', 'expire', 'del', 'mget', 'zrem', 'hmget', 'pexpiretime', 'ping'])

async function fire (options: Options): Promise<Result> {
  return await new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

/** The processes of the stack, when the harness started it (autocannon runs in this process). */
function processGroups (): ProcessGroups {
  if (!stack) return {}
  return {
    replicas: stack.replicas.map(r => r.pid),
    nginx: withChildren(stack.nginx.process.pid),
    redis: stack.redis ? [stack.redis.process.pid] : [],
    'load generator': [process.pid]
  }
}

async function measure (name: string, options: Partial<Options> & { url: string, expectStatus?: number }, seconds: number): Promise<Run> {
  const { expectStatus = 200, ...rest } = options
  const groups = processGroups()
  const before = await commandStats()
  const cpuBefore = cpuSample(groups)
  const result = await fire({ connections: settings.connections, duration: seconds, ...rest })
  const cpuAfter = cpuSample(groups)
  const after = await commandStats()
  const used: Record<string, number> = {}
  for (const [cmd, n] of Object.entries(after)) if (n !== (before[cmd] ?? 0) && cmd !== 'info') used[cmd] = n - (before[cmd] ?? 0)
  const total = result.requests.total || 1
  const codes = (result as Result & { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}
  const unexpected = Object.entries(codes).filter(([code]) => Number(code) !== expectStatus).reduce((n, [, v]) => n + (v.count ?? 0), 0)
  const clientCommands = Object.entries(used).filter(([c]) => CLIENT_COMMANDS.has(c)).reduce((n, [, v]) => n + v, 0)
  return {
    scenario: name,
    requestsPerSecond: result.requests.average,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    unexpectedStatus: unexpected,
    redisCommandsPerRequest: redis ? clientCommands / total : null,
    cpuMicrosecondsPerRequest: Object.fromEntries(Object.keys(groups).map(g => [g, ((cpuAfter[g]! - cpuBefore[g]!) * 1000) / total])),
    redisCommands: Object.fromEntries(Object.entries(used).map(([c, n]) => [c, Math.round((n / total) * 100) / 100]))
  }
}

/** used_memory per session over `count` logins, and MEMORY USAGE of one session (+ its user index). */
async function bytesPerSession (loginPath: string, keyPattern: string, indexPattern: string | undefined, count: number) {
  if (!redis) return null
  await redis.flushall()
  const memory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1])
  const before = await memory()
  const result = await fire({
    url: `${target.url}${loginPath}`,
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
  return {
    sessions,
    logins: result.requests.total,
    usedMemoryPerSession: Math.round((after - before) / sessions),
    memoryUsageOfOne: key ? Number(await redis.memory('USAGE', key)) : null,
    memoryUsageOfIndex: index ? Number(await redis.memory('USAGE', index)) : null
  }
}

/** One cookie, 50 connections, N visits: how many increments survive. */
async function lostUpdates (loginPath: string, visitPath: string, cookieName: string, visits: number) {
  const browser = new Browser(target.url)
  await browser.post(loginPath, { username: `race-${cookieName}` })
  const cookie = `${cookieName}=${browser.cookies.get(cookieName)}`
  await fire({ url: `${target.url}${visitPath}`, headers: { cookie }, connections: 50, amount: visits })
  const final = visitsOf((await browser.get(visitPath)).text) ?? 0
  const counted = final - 1 // the read above is a visit too
  return { visits, counted, lost: visits - counted }
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
    redis: tool('redis-server', '--version'),
    packages: Object.fromEntries(['fastify', '@fastify/session', '@fastify/cookie', 'ioredis', 'connect-redis', 'autocannon', 'pino'].map(n => [n, pkg(n)]))
  }
}

// ---- the run ------------------------------------------------------------------------------------------------
let report: Report
try {
  const chosen = SCENARIOS.filter(s => settings.scenarios.includes(s.name))
  const prepared = []
  for (const scenario of chosen) {
    progress(`preparing ${scenario.name} (${scenario.what})`)
    const options = await scenario.prepare(target, settings.connections)
    progress(`warming up ${scenario.name}`)
    await measure(scenario.name, options, settings.warmupSeconds)
    prepared.push({ scenario, options })
  }
  const runs: Run[] = []
  for (let round = 1; round <= settings.rounds; round++) {
    // A B C A B C …: drift of the machine hits every scenario alike.
    for (const { scenario, options } of prepared) {
      const run = await measure(scenario.name, options, settings.durationSeconds)
      runs.push(run)
      progress(`round ${round}/${settings.rounds} ${scenario.name.padEnd(11)} ${Math.round(run.requestsPerSecond)} req/s, p99 ${run.latency.p99} ms` +
        (run.errors + run.unexpectedStatus ? `, ${run.errors} errors, ${run.unexpectedStatus} unexpected statuses` : ''))
    }
  }
  // Only on the Redis the benchmark started: it empties it first.
  let bytes: Report['bytesPerSession'] = { ours: null, blob: null }
  if (stack) {
    progress('memory per session (our store, then the whole-JSON store)')
    bytes = {
      ours: await bytesPerSession('/login', 'sess:{*', 'sess:u:*', settings.bytesSessions),
      blob: await bytesPerSession('/blob/login', 'blob:*', undefined, settings.bytesSessions)
    }
  }
  progress('lost updates with one cookie and 50 connections')
  const lost = {
    ours: await lostUpdates('/login', '/', 'sid', settings.lostUpdateVisits),
    blob: skipped.some(s => s.scenario === 'blob') ? null : await lostUpdates('/blob/login', '/blob/', 'blobsid', settings.lostUpdateVisits)
  }
  report = {
    date: new Date().toISOString(),
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    settings: { ...settings, target: args.url ?? 'harness (local processes)' },
    versions: versions(),
    runs,
    scenarios: summarize(runs),
    bytesPerSession: bytes,
    lostUpdates: lost,
    skipped,
    failed: false,
    goals: []
  }
  report.failed = runs.some(r => r.errors > 0 || r.unexpectedStatus > 0)
  report.goals = goals(report)
} finally {
  await redis?.quit()
  await stack?.stop()
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function summarize (runs: Run[]): ScenarioResult[] {
  const names = [...new Set(runs.map(r => r.scenario))]
  return names.map(name => {
    const mine = runs.filter(r => r.scenario === name)
    const rps = mine.map(r => r.requestsPerSecond)
    return {
      scenario: name,
      what: SCENARIOS.find(s => s.name === name)!.what,
      requestsPerSecond: Math.round(median(rps)),
      spread: [Math.round(Math.min(...rps)), Math.round(Math.max(...rps))],
      latency: {
        p50: median(mine.map(r => r.latency.p50)),
        p90: median(mine.map(r => r.latency.p90)),
        p99: median(mine.map(r => r.latency.p99)),
        max: Math.max(...mine.map(r => r.latency.max))
      },
      errors: mine.reduce((n, r) => n + r.errors + r.unexpectedStatus, 0),
      redisCommandsPerRequest: mine[0]!.redisCommandsPerRequest === null ? null : Math.round(median(mine.map(r => r.redisCommandsPerRequest!)) * 100) / 100,
      cpuMicrosecondsPerRequest: Object.fromEntries(Object.keys(mine[0]!.cpuMicrosecondsPerRequest)
        .map(g => [g, Math.round(median(mine.map(r => r.cpuMicrosecondsPerRequest[g]!)))])),
      redisCommands: mine[mine.length - 1]!.redisCommands
    }
  })
}

function goals (r: Report): Report['goals'] {
  const get = (name: string) => r.scenarios.find(s => s.scenario === name)
  const hot = get('hot')
  const blob = get('blob')
  const floor = get('floor-app')
  const readOnly = get('read-only')
  const out: Report['goals'] = []
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
  if (hot && blob) {
    out.push({ goal: 'hot ≥ 1.5 × blob (requests/s)', value: ratio(hot.requestsPerSecond, blob.requestsPerSecond), holds: hot.requestsPerSecond >= 1.5 * blob.requestsPerSecond })
    out.push({ goal: 'hot p99 below blob p99', value: ratio(hot.latency.p99, blob.latency.p99), holds: hot.latency.p99 < blob.latency.p99 })
    if (hot.redisCommandsPerRequest !== null && blob.redisCommandsPerRequest !== null) {
      out.push({ goal: 'hot sends fewer Redis commands per request than blob', value: ratio(hot.redisCommandsPerRequest, blob.redisCommandsPerRequest), holds: hot.redisCommandsPerRequest < blob.redisCommandsPerRequest })
    }
  }
  const bytes = r.bytesPerSession
  if (bytes.ours && bytes.blob) {
    out.push({ goal: 'fewer Redis bytes per session than blob (all-in, user index included)', value: ratio(bytes.ours.usedMemoryPerSession, bytes.blob.usedMemoryPerSession), holds: bytes.ours.usedMemoryPerSession < bytes.blob.usedMemoryPerSession })
  }
  if (r.lostUpdates.ours && r.lostUpdates.blob) {
    out.push({ goal: 'zero lost updates (one cookie, 50 connections)', value: r.lostUpdates.ours.lost, holds: r.lostUpdates.ours.lost === 0 })
  }
  if (hot && floor) {
    out.push({ goal: 'hot ≥ 0.7 × floor-app (requests/s)', value: ratio(hot.requestsPerSecond, floor.requestsPerSecond), holds: hot.requestsPerSecond >= 0.7 * floor.requestsPerSecond })
    out.push({ goal: 'p99 hot ÷ p99 floor-app (reported)', value: ratio(hot.latency.p99, Math.max(floor.latency.p99, 1)), holds: null })
  }
  if (readOnly && floor) {
    out.push({ goal: 'read-only within 15 % of floor-app (requests/s)', value: ratio(readOnly.requestsPerSecond, floor.requestsPerSecond), holds: readOnly.requestsPerSecond >= 0.85 * floor.requestsPerSecond })
  }
  return out
}

mkdirSync(args.out, { recursive: true })
const stem = join(args.out, `${report.date.slice(0, 10)}-${report.host}${quick ? '-quick' : ''}`)
writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`)
writeFileSync(`${stem}.md`, renderMarkdown(report))
writeFileSync(`${stem}.svg`, renderChart(report))
console.log(`\n${renderMarkdown(report)}`)
progress(`wrote ${stem}.json, .md and .svg`)
if (report.failed) {
  progress('FAILED: some requests errored or answered an unexpected status')
  process.exitCode = 1
}
