// CI's smoke check of a benchmark report: well-formed, every scenario measured, no errors. Never a verdict on speed.
import { readFileSync } from 'node:fs'
import type { Report } from './report.ts'

const file = process.argv[2]
if (!file) {
  console.error('usage: node dist/bench/check-report.js <report.json>')
  process.exit(2)
}
const report = JSON.parse(readFileSync(file, 'utf8')) as Report
const problems: string[] = []
if (report.failed) problems.push('the run says FAILED')
if (!Array.isArray(report.scenarios) || report.scenarios.length === 0) problems.push('no scenarios')
for (const s of report.scenarios ?? []) {
  if (!(s.requestsPerSecond > 0)) problems.push(`${s.scenario}: no requests/s`)
  if (s.errors !== 0) problems.push(`${s.scenario}: ${s.errors} errors`)
  for (const p of ['p50', 'p90', 'p99', 'max'] as const) if (typeof s.latency?.[p] !== 'number') problems.push(`${s.scenario}: no ${p}`)
}
if (!report.versions || !report.goals) problems.push('versions or goals missing')
if (problems.length > 0) {
  console.error(`bench report ${file} is not well-formed:\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log(`bench report ${file}: ${report.scenarios.length} scenarios, no errors`)
