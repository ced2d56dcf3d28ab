// The benchmark's arithmetic, apart from any measuring: rounds folded into one result per scenario, and the goals
// the design sets, judged on those results.
import type { Report, Run, ScenarioResult } from './report.ts'

export function median (values: number[]): number {
  if (values.length === 0) throw new Error('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One result per scenario, in the order they first ran: medians over the rounds, the worst max, errors summed. */
export function summarize (runs: Run[], whatOf: (scenario: string) => string): ScenarioResult[] {
  const names = [...new Set(runs.map(r => r.scenario))]
  return names.map(name => {
    const mine = runs.filter(r => r.scenario === name)
    const rps = mine.map(r => r.requestsPerSecond)
    return {
      scenario: name,
      what: whatOf(name),
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

/** The replicas' CPU per hot request (µs, the /proc figure) the design allows. */
export const HOT_REPLICA_CPU_BUDGET_US = 50

/** The design's goals, each with its figure and whether it holds (null: reported, not judged); only those measured. */
export function goals (r: Pick<Report, 'scenarios' | 'bytesPerSession' | 'lostUpdates'>): Report['goals'] {
  const get = (name: string) => r.scenarios.find(s => s.scenario === name)
  const hot = get('hot')
  const trip = get('trip')
  const blob = get('blob')
  const floor = get('floor-app')
  const readOnly = get('read-only')
  const out: Report['goals'] = []
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
  if (hot && trip) {
    out.push({ goal: 'hot ≥ 0.8 × trip, the one-round-trip floor (requests/s)', value: ratio(hot.requestsPerSecond, trip.requestsPerSecond), holds: hot.requestsPerSecond >= 0.8 * trip.requestsPerSecond })
    // autocannon's percentiles are whole milliseconds: 0 ms counts as 1.
    const p99 = (s: typeof hot) => Math.max(s.latency.p99, 1)
    out.push({ goal: 'p99 hot ≤ 1.2 × p99 trip', value: ratio(p99(hot), p99(trip)), holds: p99(hot) <= 1.2 * p99(trip) })
  }
  if (hot && blob) {
    out.push({ goal: 'hot ≥ 1.5 × blob (requests/s)', value: ratio(hot.requestsPerSecond, blob.requestsPerSecond), holds: hot.requestsPerSecond >= 1.5 * blob.requestsPerSecond })
    out.push({ goal: 'hot p99 below blob p99', value: ratio(hot.latency.p99, blob.latency.p99), holds: hot.latency.p99 < blob.latency.p99 })
    if (hot.redisCommandsPerRequest !== null && blob.redisCommandsPerRequest !== null) {
      out.push({ goal: 'hot sends fewer Redis commands per request than blob', value: ratio(hot.redisCommandsPerRequest, blob.redisCommandsPerRequest), holds: hot.redisCommandsPerRequest < blob.redisCommandsPerRequest })
    }
  }
  const hotCpu = hot?.cpuMicrosecondsPerRequest.replicas
  if (hotCpu !== undefined) {
    out.push({ goal: `replicas' CPU per hot request ≤ ${HOT_REPLICA_CPU_BUDGET_US} µs`, value: hotCpu, holds: hotCpu <= HOT_REPLICA_CPU_BUDGET_US })
  }
  const bytes = r.bytesPerSession
  if (bytes.ours && bytes.blob) {
    out.push({ goal: 'Redis bytes per session ≤ blob (all-in, user index included)', value: ratio(bytes.ours.usedMemoryPerSession, bytes.blob.usedMemoryPerSession), holds: bytes.ours.usedMemoryPerSession <= bytes.blob.usedMemoryPerSession })
    if (bytes.ours.usedMemoryPerSessionAlone !== undefined) {
      out.push({ goal: 'Redis bytes of the session alone ÷ blob (reported)', value: ratio(bytes.ours.usedMemoryPerSessionAlone, bytes.blob.usedMemoryPerSession), holds: null })
    }
  }
  if (r.lostUpdates.ours && r.lostUpdates.blob) {
    out.push({ goal: 'zero lost updates (one cookie, 50 connections)', value: r.lostUpdates.ours.lost, holds: r.lostUpdates.ours.lost === 0 })
  }
  if (hot && floor) {
    out.push({ goal: 'hot ÷ floor-app (requests/s, reported)', value: ratio(hot.requestsPerSecond, floor.requestsPerSecond), holds: null })
  }
  if (readOnly && floor) {
    out.push({ goal: 'read-only within 15 % of floor-app (requests/s)', value: ratio(readOnly.requestsPerSecond, floor.requestsPerSecond), holds: readOnly.requestsPerSecond >= 0.85 * floor.requestsPerSecond })
  }
  return out
}

/**
 * Where a run's files go, without extension. Only a reference run (full, asked for) is named `<date>-<host>` in
 * bench/results/; every other run gets the time of day too (and `-quick` for a smoke run), so no run overwrites
 * another, and it goes to the scratch folder unless told otherwise.
 */
export function resultStem (date: string, host: string, kind: { quick: boolean, reference: boolean }): string {
  const day = date.slice(0, 10)
  if (kind.reference) return `${day}-${host}`
  return `${day}-${host}${kind.quick ? '-quick' : ''}-${date.slice(11, 19).replaceAll(':', '')}`
}
