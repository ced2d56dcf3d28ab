// The benchmark's arithmetic: medians over rounds, one result per scenario, the goals, and result names that
// never overwrite the reference run.
import t from 'tap'
import { renderChart } from '../../bench/chart.ts'
import { renderMarkdown, type Report, type Run, type ScenarioResult } from '../../bench/report.ts'
import { goals, median, resultStem, summarize } from '../../bench/summary.ts'

function run (scenario: string, rps: number, p99: number, extra: Partial<Run> = {}): Run {
  return {
    scenario,
    requestsPerSecond: rps,
    latency: { p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2 },
    requests: rps * 8,
    errors: 0,
    unexpectedStatus: 0,
    redisCommandsPerRequest: 1,
    cpuMicrosecondsPerRequest: { replicas: 100, nginx: 20 },
    redisCommands: { evalsha: 1 },
    ...extra
  }
}

function result (scenario: string, rps: number, p99: number, commands: number | null = 1): ScenarioResult {
  return { scenario, what: scenario, requestsPerSecond: rps, spread: [rps, rps], latency: { p50: 1, p90: 2, p99, max: p99 }, errors: 0, redisCommandsPerRequest: commands, cpuMicrosecondsPerRequest: {}, redisCommands: {} }
}

t.test('median', async t => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(median([7]), 7)
  t.throws(() => median([]), /no values/)
})

t.test('summarize folds rounds into one result per scenario, in the order they ran', async t => {
  const runs = [
    run('hot', 1000, 10), run('blob', 500, 20),
    run('hot', 1200, 12, { errors: 1, cpuMicrosecondsPerRequest: { replicas: 300, nginx: 40 } }), run('blob', 400, 30, { unexpectedStatus: 2 }),
    run('hot', 1100, 30, { redisCommands: { evalsha: 1, hincrby: 1 } }), run('blob', 450, 25)
  ]
  const [hot, blob] = summarize(runs, name => `what ${name}`)
  t.equal(hot!.scenario, 'hot')
  t.equal(hot!.what, 'what hot')
  t.equal(hot!.requestsPerSecond, 1100, 'median requests/s')
  t.same(hot!.spread, [1000, 1200], 'spread: slowest and fastest round')
  t.equal(hot!.latency.p99, 12, 'median p99')
  t.equal(hot!.latency.max, 60, 'the worst max of any round')
  t.equal(hot!.errors, 1)
  t.same(hot!.cpuMicrosecondsPerRequest, { replicas: 100, nginx: 20 }, 'CPU per part: medians')
  t.same(hot!.redisCommands, { evalsha: 1, hincrby: 1 }, 'commands: the last round')
  t.equal(blob!.errors, 2, 'unexpected statuses count as errors')
  t.equal(summarize([run('x', 1, 1, { redisCommandsPerRequest: null })], n => n)[0]!.redisCommandsPerRequest, null, 'no Redis: null')
})

t.test('goals: judged where both sides were measured', async t => {
  const bytes = { sessions: 10, logins: 10, usedMemoryPerSession: 300, usedMemoryPerSessionAlone: 180, memoryUsageOfOne: 200, memoryUsageOfIndex: 100 }
  const hot = { ...result('hot', 3000, 6, 1), cpuMicrosecondsPerRequest: { replicas: 45, nginx: 20 } }
  const all = goals({
    scenarios: [hot, result('trip', 3600, 5), result('blob', 1500, 10, 2), result('floor-app', 4000, 4), result('read-only', 3500, 4)],
    bytesPerSession: { ours: bytes, blob: { ...bytes, usedMemoryPerSessionAlone: undefined, usedMemoryPerSession: 400 } },
    lostUpdates: { ours: { visits: 200, counted: 200, lost: 0 }, blob: { visits: 200, counted: 20, lost: 180 } }
  })
  const byGoal = Object.fromEntries(all.map(g => [g.goal, g]))
  t.same(byGoal['hot ≥ 0.8 × trip, the one-round-trip floor (requests/s)'], { goal: 'hot ≥ 0.8 × trip, the one-round-trip floor (requests/s)', value: 0.83, holds: true })
  t.same(byGoal['p99 hot ≤ 1.2 × p99 trip'], { goal: 'p99 hot ≤ 1.2 × p99 trip', value: 1.2, holds: true }, 'exactly 1.2 holds')
  t.same(byGoal['hot ≥ 1.5 × blob (requests/s)'], { goal: 'hot ≥ 1.5 × blob (requests/s)', value: 2, holds: true })
  t.equal(byGoal['hot p99 below blob p99']!.holds, true)
  t.equal(byGoal['hot sends fewer Redis commands per request than blob']!.value, 0.5)
  t.same(byGoal['replicas\' CPU per hot request ≤ 50 µs'], { goal: 'replicas\' CPU per hot request ≤ 50 µs', value: 45, holds: true })
  t.equal(byGoal['Redis bytes per session ≤ blob (all-in, user index included)']!.value, 0.75)
  t.same(byGoal['Redis bytes of the session alone ÷ blob (reported)'], { goal: 'Redis bytes of the session alone ÷ blob (reported)', value: 0.45, holds: null })
  t.equal(byGoal['zero lost updates (one cookie, 50 connections)']!.holds, true)
  t.equal(byGoal['hot ÷ floor-app (requests/s, reported)']!.holds, null, 'reported, not judged')
  t.equal(byGoal['read-only within 15 % of floor-app (requests/s)']!.holds, true)
  t.equal(all.length, 11)

  const equalBytes = goals({ scenarios: [], bytesPerSession: { ours: bytes, blob: bytes }, lostUpdates: { ours: null, blob: null } })
  t.equal(equalBytes[0]!.holds, true, 'as many bytes as blob holds (≤)')

  // Each target missed by a hair: every one says so.
  const missed = goals({
    scenarios: [
      { ...result('hot', 2999, 7, 1), cpuMicrosecondsPerRequest: { replicas: 51 } },
      result('trip', 3750, 5),
      result('blob', 2000, 6, 1)
    ],
    bytesPerSession: { ours: { ...bytes, usedMemoryPerSession: 401 }, blob: { ...bytes, usedMemoryPerSession: 400 } },
    lostUpdates: { ours: null, blob: null }
  })
  const missedBy = Object.fromEntries(missed.map(g => [g.goal, g.holds]))
  t.equal(missedBy['hot ≥ 0.8 × trip, the one-round-trip floor (requests/s)'], false, '0.7997 × trip')
  t.equal(missedBy['p99 hot ≤ 1.2 × p99 trip'], false, '7 ms against 5 ms')
  t.equal(missedBy['hot ≥ 1.5 × blob (requests/s)'], false)
  t.equal(missedBy['hot p99 below blob p99'], false)
  t.equal(missedBy['hot sends fewer Redis commands per request than blob'], false, 'as many commands is not fewer')
  t.equal(missedBy['replicas\' CPU per hot request ≤ 50 µs'], false, '51 µs')
  t.equal(missedBy['Redis bytes per session ≤ blob (all-in, user index included)'], false, 'one byte more')

  const subMs = goals({ scenarios: [result('hot', 100, 1), result('trip', 100, 0)], bytesPerSession: { ours: null, blob: null }, lostUpdates: { ours: null, blob: null } })
  t.equal(subMs.find(g => g.goal.startsWith('p99'))!.holds, true, 'a 0 ms p99 counts as 1 ms (whole milliseconds)')
  t.same(goals({ scenarios: [result('hot', 1, 1)], bytesPerSession: { ours: null, blob: null }, lostUpdates: { ours: null, blob: null } }), [], 'nothing to compare: no goals')
})

t.test('result names: only a reference run is <date>-<host>; others carry the time, smoke runs say -quick', async t => {
  const date = '2026-11-23T14:05:09.123Z'
  t.equal(resultStem(date, 'vm', { quick: false, reference: true }), '2026-11-23-vm')
  t.equal(resultStem(date, 'vm', { quick: false, reference: false }), '2026-11-23-vm-140509')
  t.equal(resultStem(date, 'vm', { quick: true, reference: false }), '2026-11-23-vm-quick-140509')
})

t.test('a smoke run says so in its report and its chart', async t => {
  const report: Report = {
    date: '2026-11-23T14:05:09.123Z',
    host: 'vm',
    cpus: 2,
    cpuModel: 'x',
    quick: true,
    settings: {},
    versions: { node: 'v20', nginx: 'nginx/1.22', redis: 'Redis 7' },
    runs: [],
    scenarios: [result('hot', 1000, 5)],
    bytesPerSession: { ours: null, blob: null },
    lostUpdates: { ours: null, blob: null },
    skipped: [],
    failed: false,
    goals: []
  }
  t.match(renderMarkdown(report), /^# Smoke run \(--quick, not a measurement\) 2026-11-23 14:05 UTC on vm/)
  t.match(renderChart(report), 'SMOKE RUN (--quick), not a measurement')
  t.match(renderMarkdown({ ...report, quick: false }), /^# Benchmark 2026-11-23/)
  t.notMatch(renderChart({ ...report, quick: undefined }), 'SMOKE')
})
