// The benchmark's report: its shape (JSON) and its Markdown table.
export interface Latency { p50: number, p90: number, p99: number, max: number }

export interface Run {
  scenario: string
  requestsPerSecond: number
  latency: Latency
  requests: number
  errors: number
  unexpectedStatus: number
  /** Commands clients sent to Redis per request (each a round trip); null when Redis was not reachable. */
  redisCommandsPerRequest: number | null
  /** CPU time per request of each part of the stack (replicas, nginx, redis, load generator), when known. */
  cpuMicrosecondsPerRequest: Record<string, number>
  /** Every command Redis counted per request, those run inside scripts included. */
  redisCommands: Record<string, number>
}

export interface ScenarioResult {
  scenario: string
  what: string
  requestsPerSecond: number
  spread: number[]
  latency: Latency
  errors: number
  redisCommandsPerRequest: number | null
  cpuMicrosecondsPerRequest: Record<string, number>
  redisCommands: Record<string, number>
}

interface Bytes {
  sessions: number
  logins: number
  /** used_memory per session, all-in (the user index included). */
  usedMemoryPerSession: number
  /** used_memory per session once the user indexes are deleted (ours only). */
  usedMemoryPerSessionAlone?: number
  memoryUsageOfOne: number | null
  memoryUsageOfIndex: number | null
}
interface Lost { visits: number, counted: number, lost: number }

export interface Report {
  date: string
  host: string
  cpus: number
  cpuModel: string
  /** A smoke run (--quick): one short round, to see that everything runs; its figures measure nothing. */
  quick?: boolean
  settings: Record<string, unknown>
  versions: Record<string, unknown>
  runs: Run[]
  scenarios: ScenarioResult[]
  bytesPerSession: { ours: Bytes | null, blob: Bytes | null }
  lostUpdates: { ours: Lost | null, blob: Lost | null }
  skipped: Array<{ scenario: string, why: string }>
  failed: boolean
  goals: Array<{ goal: string, value: number, holds: boolean | null }>
}

/** The scenarios' throughput and latency, one row each. */
export function scenarioTable (r: Report): string {
  return '| scenario | req/s (median) | spread | p50 ms | p90 ms | p99 ms | max ms | errors | Redis cmds/req |\n' +
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' +
    r.scenarios.map(s => `| ${s.scenario} | ${s.requestsPerSecond} | ${s.spread.join('–')} | ${s.latency.p50} | ${s.latency.p90} | ${s.latency.p99} | ${s.latency.max} | ${s.errors} | ${s.redisCommandsPerRequest ?? '–'} |`).join('\n') + '\n'
}

/** CPU time per request of each part of the stack, per scenario; empty when it was not measured. */
export function cpuTable (r: Report): string {
  const parts = Object.keys(r.scenarios[0]?.cpuMicrosecondsPerRequest ?? {})
  if (parts.length === 0) return ''
  return `| scenario | ${parts.join(' | ')} | total |\n| --- |${parts.map(() => ' ---: |').join('')} ---: |\n` +
    r.scenarios.map(s => {
      const values = parts.map(p => s.cpuMicrosecondsPerRequest[p] ?? 0)
      return `| ${s.scenario} | ${values.join(' | ')} | ${values.reduce((a, b) => a + b, 0)} |`
    }).join('\n') + '\n'
}

/** The goals, each with its measured value and whether it holds. */
export function goalsTable (r: Report): string {
  return '| goal | value | holds |\n| --- | ---: | --- |\n' +
    r.goals.map(g => `| ${g.goal} | ${g.value} | ${g.holds === null ? '–' : g.holds ? 'yes' : 'no'} |`).join('\n') + '\n'
}

/** Node, nginx and Redis as the report recorded them. */
export function versionsLine (r: Report): string {
  const v = r.versions as { node: string, nginx: string, redis: string }
  return `${String(v.node)}, ${String(v.nginx)}, ${String(v.redis).split(' sha=')[0]}`
}

export function renderMarkdown (r: Report): string {
  const cpu = cpuTable(r)
  const b = r.bytesPerSession
  const l = r.lostUpdates
  return `# ${r.quick ? 'Smoke run (--quick, not a measurement)' : 'Benchmark'} ${r.date.slice(0, 16).replace('T', ' ')} UTC on ${r.host} (${r.cpus} CPUs)${r.failed ? ' — FAILED' : ''}

${versionsLine(r)}; settings: ${JSON.stringify(r.settings)}

${scenarioTable(r)}${r.skipped.map(s => `\nNot measured: ${s.scenario} (${s.why}).`).join('')}
${cpu === '' ? '' : `\nCPU time per request, µs (from /proc; the machine's ${r.cpus} CPUs are shared by all of them):\n\n${cpu}`}
${b.ours ? `Bytes per session (used_memory over ${b.ours.sessions} sessions, each of another user): this store ${b.ours.usedMemoryPerSession} all-in, ${b.ours.usedMemoryPerSessionAlone ?? '–'} for the session alone (MEMORY USAGE: session ${b.ours.memoryUsageOfOne ?? '–'}, user index ${b.ours.memoryUsageOfIndex ?? '–'}), whole-JSON store ${b.blob?.usedMemoryPerSession ?? '–'} (MEMORY USAGE ${b.blob?.memoryUsageOfOne ?? '–'}).` : 'Bytes per session: not measured (only on a Redis the benchmark starts itself, since it empties it first).'}

Lost updates (one cookie, 50 connections, ${l.ours?.visits ?? '–'} visits): this store ${l.ours?.lost ?? '–'}, whole-JSON store ${l.blob?.lost ?? '–'} (${l.blob ? Math.round((l.blob.lost / l.blob.visits) * 100) : '–'} %).

${goalsTable(r)}`
}
