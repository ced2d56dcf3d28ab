// A load test measures the machine it runs on: two at once would measure each other. The comparison tools refuse
// to start while another is running (node processes only: a shell that merely mentions one is not a load test).
import { execFileSync } from 'node:child_process'

export function refuseAlongsideOtherLoadTests (tool: string): void {
  let others: string[] = []
  try {
    others = execFileSync('pgrep', ['-f', '^[^ ]*node .*(autocannon|bench/run\\.js|bench/metrics-cost|bench/redis-topologies|bench/compose)'], { encoding: 'utf8' })
      .split('\n').filter(pid => pid && Number(pid) !== process.pid && Number(pid) !== process.ppid)
  } catch {} // pgrep exits 1 when nothing matches
  if (others.length > 0) {
    console.error(`[${tool}] another load test is running (pids ${others.join(', ')}): not measuring alongside it`)
    process.exit(2)
  }
}
