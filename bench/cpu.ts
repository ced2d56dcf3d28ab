// CPU time per part of the stack, read from /proc around each measurement: where a scenario's time goes (the
// replicas, nginx, Redis or the load generator itself). Linux only; elsewhere the figures are simply absent.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined
/** The kernel's clock ticks per second (/proc counts CPU time in them), asked once, when first needed. */
const ticks = () => (ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100)

/** user + system CPU time of one process, in milliseconds (0 when it is gone or /proc is absent). */
function cpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks()
  } catch {
    return 0
  }
}

/** A process and its children (nginx's workers). */
export function withChildren (parent: number): number[] {
  const pids = [parent]
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) pids.push(Number(entry))
      } catch {}
    }
  } catch {}
  return pids
}

export type ProcessGroups = Record<string, number[]>

/** CPU milliseconds used so far by each group of processes. */
export function cpuSample (groups: ProcessGroups): Record<string, number> {
  return Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + cpuMs(pid), 0)]))
}
