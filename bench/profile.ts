// `node dist/bench/profile.js [--path /] [--seconds 10] [--connections 16]`: one benchmark replica (no nginx) under
// `node --cpu-prof`, loaded directly with autocannon, and its profile cut into layers: which part of the stack
// costs how many µs of CPU per request, and how many bytes of garbage a request leaves (every GC's freed bytes,
// from v8.GCProfiler). Only the samples taken while the load ran are counted. The .cpuprofile stays in
// .run/profile/ (open it in Chrome's DevTools).
import autocannon, { type Result } from 'autocannon'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalStack } from '../harness/local-stack.ts'
import { BENCH_REPLICA_ENTRY, isMain, RUN_DIR } from '../harness/paths.ts'
import { exitWithChildrenOnSignals } from '../harness/processes.ts'
import { TRIP_HEADER } from './one-round-trip.ts'
import { bareSessionId } from './scenarios.ts'
import { Browser } from '../harness/client.ts'
import { cpuSample } from './cpu.ts'
import { layerOf, type ProfileNode } from './layers.ts'

interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

const USAGE = 'usage: node dist/bench/profile.js [--path /] [--seconds 10] [--connections 16]'

/** Profiles one benchmark replica under load on `path` and prints its CPU per request by layer, and its garbage. */
export async function profileReplica ({ path, seconds, connections }: { path: string, seconds: number, connections: number }): Promise<void> {
  exitWithChildrenOnSignals()
  const dir = join(RUN_DIR, 'profile')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const gcFile = join(dir, 'gc.json')

  const stack = await LocalStack.start({
    replicas: 1,
    env: { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0', BENCH_GC_STATS: gcFile },
    replicaEntry: BENCH_REPLICA_ENTRY,
    accessLog: 'off',
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, '--import', new URL('./gc-stats.js', import.meta.url).pathname]
  })
  let result: Result
  let warm: Result
  let window: [number, number]
  let cpuMs: number
  try {
    const cookies: string[] = []
    for (let i = 0; i < connections; i++) {
      const browser = new Browser(stack.url)
      await browser.post('/login', { username: `profile${i}` })
      cookies.push(`sid=${browser.cookies.get('sid')}`)
    }
    let next = 0
    const trip = path.startsWith('/trip')
    const url = `${stack.replicas[0]!.url}${path}`
    const run = async (seconds: number) => await new Promise<Result>((resolve, reject) => {
      autocannon({
        url,
        connections,
        duration: seconds,
        setupClient: client => {
          const cookie = cookies[next++ % cookies.length]!
          client.setHeaders(trip ? { [TRIP_HEADER]: bareSessionId(cookie) } : { cookie })
        }
      }, (err, res) => (err ? reject(err) : resolve(res)))
    })
    warm = await run(2) // warm-up: the JIT settles
    // The profile's timestamps are the monotonic clock in µs, as process.hrtime's (both libuv's/V8's CLOCK_MONOTONIC).
    const start = Number(process.hrtime.bigint() / 1000n)
    const groups = { replica: [stack.replicas[0]!.pid] }
    const cpuBefore = cpuSample(groups).replica!
    result = await run(seconds)
    cpuMs = cpuSample(groups).replica! - cpuBefore
    window = [start, Number(process.hrtime.bigint() / 1000n)]
  } finally {
    await stack.stop()
  }

  const file = readdirSync(dir).find(f => f.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no .cpuprofile in ${dir}`)
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const layerCache = new Map<number, string>()
  const layer = (id: number): string => {
    let cached = layerCache.get(id)
    if (cached === undefined) {
      cached = layerOf(byId.get(id)!, () => { const p = parent.get(id); return p === undefined ? undefined : layer(p) })
      layerCache.set(id, cached)
    }
    return cached
  }
  /** Crypto is split by who asked for it: the first caller above it outside Node's own code. */
  const owner = (id: number): string => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const name = layer(p)
      if (!name.startsWith('node:') && !name.startsWith('V8')) return name
    }
    return 'Node'
  }
  const micros = new Map<string, number>()
  let t = profile.startTime
  let busy = 0
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!
    if (t < window[0] || t > window[1]) continue
    // A sample stands for the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0
    const id = profile.samples[i]!
    const name = layer(id) === 'node: crypto' ? `node: crypto, for ${owner(id)}` : layer(id)
    if (name === 'idle') continue
    busy += dt
    micros.set(name, (micros.get(name) ?? 0) + dt)
  }
  const requests = result.requests.total
  const rows = [...micros].sort((a, b) => b[1] - a[1])
  // The profiler samples by the clock: on a busy machine a sample also stands for time the replica waited for a CPU.
  // The layers' shares of the busy samples are applied to the CPU time the kernel counted (/proc) instead.
  const cpuPerRequest = (cpuMs * 1000) / requests
  console.log(`\n${path} direct to one replica: ${requests} requests in ${seconds} s (${Math.round(result.requests.average)} req/s), ` +
    `non-2xx ${result.non2xx}; CPU ${cpuPerRequest.toFixed(1)} µs per request (/proc), busy samples ${(busy / requests).toFixed(1)} µs\n`)
  console.log('| layer | µs per request | share |\n| --- | ---: | ---: |')
  for (const [name, us] of rows) console.log(`| ${name} | ${((us / busy) * cpuPerRequest).toFixed(1)} | ${Math.round((us / busy) * 100)} % |`)

  const gc = JSON.parse(readFileSync(gcFile, 'utf8')) as { statistics: Array<{ gcType: string, startTime: number, beforeGC: { heapStatistics: { usedHeapSize: number } }, afterGC: { heapStatistics: { usedHeapSize: number } } }> }
  // The collections of the whole run (warm-up and logins included), per request of the whole run.
  const freed = gc.statistics.reduce((n, s) => n + Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize), 0)
  const all = requests + warm.requests.total + connections
  console.log(`\ngarbage: ${gc.statistics.length} collections freed ${(freed / 1e6).toFixed(1)} MB: ~${Math.round(freed / all)} B per request (all requests of the run)`)
  console.log(`profile: ${join(dir, file)}`)
}

if (isMain(import.meta.url)) {
  const { values: args } = parseArgs({
    options: {
      path: { type: 'string', default: '/' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '16' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (args.help) console.log(USAGE)
  else await profileReplica({ path: args.path, seconds: Number(args.seconds), connections: Number(args.connections) })
}
