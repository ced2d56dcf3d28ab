// What the metrics cost on the hot path: two local stacks, one with metrics off (METRICS_PORT=0) and one with
// them on and scraped every second, measured in alternating rounds (off on, on off, …) so that machine drift
// hits both alike. Reports requests/s, p99 and the replicas' CPU per request for each, and the difference; then
// profiles a third stack's replicas to say what share of their CPU the metrics take.
//   npm run build && node dist/bench/metrics-cost.js [--duration 8] [--rounds 4] [--connections 32]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Options } from 'autocannon'
import { LocalStack } from '../harness/local-stack.ts'
import { isMain } from '../harness/paths.ts'
import { exitWithChildrenOnSignals } from '../harness/processes.ts'
import { refuseAlongsideOtherLoadTests } from './alone.ts'
import { cpuSample } from './cpu.ts'
import { fire } from './fire.ts'
import { SCENARIOS } from './scenarios.ts'
import { median } from './summary.ts'

const USAGE = 'usage: node dist/bench/metrics-cost.js [--duration 8] [--rounds 4] [--connections 32]'
const progress = (line: string) => console.error(`[metrics-cost] ${line}`)

interface Variant {
  name: 'off' | 'on'
  stack: LocalStack
  options: Partial<Options> & { url: string }
  runs: Array<{ rps: number, p99: number, cpuUsPerRequest: number }>
}

/**
 * Measures the hot path with metrics off and on in alternating rounds, then profiles a third stack's replicas,
 * and prints the comparison.
 */
export async function measureMetricsCost ({ durationSeconds, rounds, connections }: { durationSeconds: number, rounds: number, connections: number }): Promise<void> {
  exitWithChildrenOnSignals()
  refuseAlongsideOtherLoadTests('metrics-cost')

  /** One round; with metrics on, each replica is scraped every second meanwhile (Prometheus' default is 15 s). */
  async function measure (variant: Variant, seconds: number): Promise<Variant['runs'][number]> {
    const pids = { replicas: variant.stack.replicas.map(r => r.pid) }
    const scrape = variant.name === 'on'
      ? setInterval(() => {
        for (const r of variant.stack.replicas) fetch(r.metricsUrl!).then(async res => await res.text(), () => {})
      }, 1000)
      : undefined
    const before = cpuSample(pids)
    const result = await fire({ connections, duration: seconds, ...variant.options })
    const after = cpuSample(pids)
    clearInterval(scrape)
    if (result.errors || result.non2xx) throw new Error(`${variant.name}: ${result.errors} errors, ${result.non2xx} non-2xx answers`)
    return {
      rps: result.requests.average,
      p99: result.latency.p99,
      cpuUsPerRequest: ((after.replicas! - before.replicas!) * 1000) / result.requests.total
    }
  }

  const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`
  /** The median over rounds of on ÷ off within the round: drift between rounds cancels out. */
  const paired = (pick: (run: Variant['runs'][number]) => number) => {
    const [off, on] = [variants.find(v => v.name === 'off')!, variants.find(v => v.name === 'on')!]
    return median(on.runs.map((run, i) => pick(run) / pick(off.runs[i]!)))
  }

  /**
   * Where a replica's CPU goes, with metrics on and scraped every second: the share of its busy profile samples
   * (self time) in prom-client and this project's metrics code. A share is not skewed by a busy machine the way
   * requests/s are: everything in the replica slows alike.
   */
  async function metricsShare (): Promise<{ share: number, rps: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-cost-'))
    try {
      const stack = await LocalStack.start({
        env: { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0' },
        accessLog: 'off',
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`]
      })
      let run
      try {
        run = await measure({ name: 'on', stack, options: await hot.prepare({ url: stack.url }, connections), runs: [] }, durationSeconds * 2)
      } finally {
        await stack.stop() // the replicas write their profiles as they exit
      }
      let busy = 0
      let metrics = 0
      for (const file of readdirSync(dir)) {
        const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: Array<{ id: number, callFrame: { url: string, functionName: string } }>, samples: number[] }
        const frames = new Map(profile.nodes.map(n => [n.id, n.callFrame]))
        for (const id of profile.samples) {
          const frame = frames.get(id)!
          if (frame.functionName === '(idle)' || frame.functionName === '(program)') continue
          busy++
          if (/\/prom-client\/|\/services\/(plugins\/)?metrics\.js/.test(frame.url)) metrics++
        }
      }
      return { share: metrics / busy, rps: run.rps }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  const hot = SCENARIOS.find(s => s.name === 'hot')!
  const variants: Variant[] = []
  try {
    for (const name of ['off', 'on'] as const) {
      progress(`starting the stack with metrics ${name}`)
      const stack = await LocalStack.start({
        env: { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0', ...(name === 'off' ? { METRICS_PORT: '0' } : {}) },
        accessLog: 'off'
      })
      const variant: Variant = { name, stack, options: await hot.prepare({ url: stack.url }, connections), runs: [] }
      variants.push(variant)
      if ((stack.replicas[0]!.metricsUrl === null) !== (name === 'off')) throw new Error(`metrics are not ${name}`)
    }
    for (const variant of variants) {
      progress(`warming up (${variant.name})`)
      await measure(variant, 3)
    }
    for (let round = 1; round <= rounds; round++) {
      // off on, on off, …: neither always goes first.
      for (const variant of round % 2 ? variants : [...variants].reverse()) {
        const run = await measure(variant, durationSeconds)
        variant.runs.push(run)
        progress(`round ${round}/${rounds} metrics ${variant.name.padEnd(3)} ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, replicas ${run.cpuUsPerRequest.toFixed(1)} µs CPU/request`)
      }
    }
  } finally {
    await Promise.all(variants.map(async v => await v.stack.stop()))
  }
  progress('profiling the replicas of a third stack, metrics on and scraped every second')
  const profiled = await metricsShare()

  const summary = Object.fromEntries(variants.map(v => [v.name, {
    rps: median(v.runs.map(r => r.rps)),
    p99: median(v.runs.map(r => r.p99)),
    cpu: median(v.runs.map(r => r.cpuUsPerRequest)),
    spread: `${Math.round(Math.min(...v.runs.map(r => r.rps)))}–${Math.round(Math.max(...v.runs.map(r => r.rps)))}`
  }]))
  const { off, on } = summary as Record<'off' | 'on', { rps: number, p99: number, cpu: number, spread: string }>
  console.log(`hot path (authenticated GET /, ${connections} connections, ${rounds} rounds of ${durationSeconds} s, medians)

  | metrics | req/s | spread | p99 ms | replicas' CPU µs/request |
  | --- | ---: | ---: | ---: | ---: |
  | off | ${Math.round(off.rps)} | ${off.spread} | ${off.p99} | ${off.cpu.toFixed(1)} |
  | on (scraped every 1 s) | ${Math.round(on.rps)} | ${on.spread} | ${on.p99} | ${on.cpu.toFixed(1)} |

  req/s with metrics: ${percent(on.rps / off.rps)} (target ≥ -5 %); p99 ${on.p99 - off.p99 >= 0 ? '+' : ''}${on.p99 - off.p99} ms; replicas' CPU per request ${percent(on.cpu / off.cpu)}
  paired (each round's on ÷ its off, median, steadier when the machine is busy): req/s ${percent(paired(r => r.rps))}, replicas' CPU per request ${percent(paired(r => r.cpuUsPerRequest))}
  replicas' CPU profile (${Math.round(profiled.rps)} req/s): ${(profiled.share * 100).toFixed(2)} % of their busy samples in prom-client and the metrics code, scrapes included`)
}

if (isMain(import.meta.url)) {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '4' },
      connections: { type: 'string', default: '32' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (args.help) console.log(USAGE)
  else await measureMetricsCost({ durationSeconds: Number(args.duration), rounds: Number(args.rounds), connections: Number(args.connections) })
}
