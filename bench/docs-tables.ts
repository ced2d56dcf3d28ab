// The performance figures in docs/ come from the reference runs in bench/results/, never typed: each generated
// block sits between `<!-- generated: NAME -->` and `<!-- end generated -->`, and `npm run docs:tables` rewrites
// them after a reference run. test/unit/docs-tables.test.ts fails while a block is stale.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PROJECT_ROOT } from '../harness/paths.ts'
import { cpuTable, goalsTable, type Report, scenarioTable, versionsLine } from './report.ts'

const RESULTS = join(PROJECT_ROOT, 'bench', 'results')

interface TopologyScenario { rps: number, spread: number[], p99: number, commands: number, storeWaitMs: number, replicaCpuUs: number, redisCpuUs: number }
interface Topologies { date: string, summary: Array<{ topology: string, scenarios: Record<string, TopologyScenario> }> }

/** The newest reference result whose name ends in `suffix` (names start with the date, so they sort by it). */
function newest (suffix: string, exclude?: string): string {
  const names = readdirSync(RESULTS).filter(f => f.endsWith(suffix) && (exclude === undefined || !f.endsWith(exclude))).sort()
  const name = names.at(-1)
  if (name === undefined) throw new Error(`no bench/results/*${suffix}: run a reference benchmark first`)
  return name
}

function readJson<T> (name: string): T {
  return JSON.parse(readFileSync(join(RESULTS, name), 'utf8')) as T
}

const thousands = (n: number): string => n.toLocaleString('en-US')

function referenceBlock (): string {
  const name = newest('.json', '-redis-topologies.json')
  const r = readJson<Report>(name)
  const stem = name.slice(0, -'.json'.length)
  const packages = Object.entries((r.versions as { packages?: Record<string, string> }).packages ?? {})
    .map(([pkg, version]) => `${pkg} ${version}`).join(', ')
  const s = r.settings as { connections: number, rounds: number, durationSeconds: number }
  return `![throughput and latency per scenario](../bench/results/${stem}.svg)

Reference run \`bench/results/${name}\`: ${r.date.slice(0, 16).replace('T', ' ')} UTC on ${r.host} (${r.cpus} CPUs),
${versionsLine(r)}; ${packages}; ${s.connections} connections, ${s.rounds} rounds of ${s.durationSeconds} s
([full report](../bench/results/${stem}.md)).

${scenarioTable(r)}
CPU time per request, µs, read from \`/proc\` for each process during the scenario:

${cpuTable(r)}
${goalsTable(r)}`
}

function topologiesBlock (): string {
  const name = newest('-redis-topologies.json')
  const { summary } = readJson<Topologies>(name)
  const base = summary[0]!.scenarios
  const rows = summary.flatMap(({ topology, scenarios }) => Object.entries(scenarios).map(([scenario, m]) =>
    `| ${topology.replace('WAIT 1', '`WAIT 1`')} | ${scenario} | ${thousands(m.rps)} (${m.spread.map(thousands).join('–')}) | ` +
    `${(m.rps / base[scenario]!.rps).toFixed(2)} | ${m.p99} | ${m.commands} | ${m.storeWaitMs.toFixed(2)} | ${m.replicaCpuUs} | ${m.redisCpuUs} |`))
  return `One run (\`bench/results/${name}\`); compare the ratios within it:

| topology | scenario | req/s | × one Redis | p99 ms | commands sent | ms waiting on Redis | replicas' CPU µs | Redis CPU µs (every node) |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}
`
}

const BLOCKS: Record<string, { page: string, render: () => string }> = {
  'bench reference': { page: 'docs/performance.md', render: referenceBlock },
  'bench topologies': { page: 'docs/scaling.md', render: topologiesBlock }
}

/** Each page that holds a generated block, with every block rendered afresh from bench/results/. */
export function generatedPages (): Map<string, string> {
  const pages = new Map<string, string>()
  for (const [block, { page, render }] of Object.entries(BLOCKS)) {
    const text = pages.get(page) ?? readFileSync(join(PROJECT_ROOT, page), 'utf8')
    const start = `<!-- generated: ${block} (npm run docs:tables) -->\n`
    const from = text.indexOf(start)
    const to = text.indexOf('<!-- end generated -->', from)
    if (from === -1 || to === -1) throw new Error(`${page} has no generated block "${block}"`)
    pages.set(page, `${text.slice(0, from + start.length)}\n${render()}\n${text.slice(to)}`)
  }
  return pages
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  for (const [page, text] of generatedPages()) {
    writeFileSync(join(PROJECT_ROOT, page), text)
    console.log(`wrote ${page}`)
  }
}
