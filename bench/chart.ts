// An SVG chart of the report, written by hand: requests/s per scenario (median, with the spread of the rounds)
// beside its latency percentiles.
import type { Report } from './report.ts'

const esc = (s: string) => s.replace(/[&<>"]/g, c => `&#${c.charCodeAt(0)};`)
const COLOURS = { rps: '#3b6fb6', p50: '#9ccc65', p90: '#f2b134', p99: '#d9534f' }

export function renderChart (r: Report): string {
  const rows = r.scenarios
  const rowHeight = 34
  const top = 58
  const height = top + rows.length * rowHeight + 40
  const label = 110
  const panel = 330
  const leftX = label
  const rightX = label + panel + 60
  const maxRps = Math.max(...rows.map(s => s.spread[1] ?? s.requestsPerSecond), 1)
  const maxMs = Math.max(...rows.map(s => s.latency.p99), 1)
  const parts: string[] = []
  rows.forEach((s, i) => {
    const y = top + i * rowHeight
    parts.push(`<text x="${label - 8}" y="${y + 17}" text-anchor="end">${esc(s.scenario)}</text>`)
    const w = (s.requestsPerSecond / maxRps) * panel
    parts.push(`<rect x="${leftX}" y="${y + 4}" width="${w.toFixed(1)}" height="18" fill="${COLOURS.rps}"/>`)
    const [lo = 0, hi = 0] = s.spread
    const y0 = y + 13
    parts.push(`<line x1="${(leftX + (lo / maxRps) * panel).toFixed(1)}" x2="${(leftX + (hi / maxRps) * panel).toFixed(1)}" y1="${y0}" y2="${y0}" stroke="#111" stroke-width="1.5"/>`)
    parts.push(`<text x="${(leftX + w + 6).toFixed(1)}" y="${y + 17}">${s.requestsPerSecond}</text>`)
    ;(['p50', 'p90', 'p99'] as const).forEach((p, j) => {
      const pw = (s.latency[p] / maxMs) * panel
      parts.push(`<rect x="${rightX}" y="${y + 2 + j * 8}" width="${Math.max(pw, 1).toFixed(1)}" height="7" fill="${COLOURS[p]}"/>`)
    })
    parts.push(`<text x="${(rightX + (s.latency.p99 / maxMs) * panel + 6).toFixed(1)}" y="${y + 17}">${s.latency.p50}/${s.latency.p90}/${s.latency.p99} ms</text>`)
  })
  const legend = (['p50', 'p90', 'p99'] as const).map((p, j) =>
    `<rect x="${rightX + j * 60}" y="${height - 24}" width="10" height="10" fill="${COLOURS[p]}"/><text x="${rightX + 14 + j * 60}" y="${height - 15}">${p}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${rightX + panel + 140}" height="${height}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" font-size="14" font-weight="bold">${esc(`${r.quick ? 'SMOKE RUN (--quick), not a measurement: ' : ''}Sessions in Redis behind nginx — ${r.date.slice(0, 10)}, ${r.cpus} CPUs${r.failed ? ' (FAILED)' : ''}`)}</text>
<text x="${leftX}" y="44" font-weight="bold">requests/s (median; line: spread of rounds)</text>
<text x="${rightX}" y="44" font-weight="bold">latency (ms)</text>
${parts.join('\n')}
${legend}
</svg>
`
}
