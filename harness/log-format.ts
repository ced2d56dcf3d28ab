// Turns the processes' output into one readable, coloured line each, compose-style: "replica-2 | GET / 200 1.4ms".
// A replica's JSON line is read by services/log-line.ts, so it reads the same as under compose (LOG_FORMAT=pretty).
import { formatLogLine } from '../services/log-line.ts'

const COLOURS = [36, 35, 33, 34, 32, 91, 96, 95]
const FIXED: Record<string, number> = { nginx: 32, redis: 31 }

export function colourFor (source: string, index: number): number {
  return FIXED[source] ?? COLOURS[index % COLOURS.length] as number
}

export function formatLine (source: string, line: string, colour: number | undefined, width: number): string {
  const label = source.padEnd(width)
  const prefix = colour ? `\u001b[${colour}m${label} |\u001b[0m` : `${label} |`
  return `${prefix} ${source.startsWith('replica') ? formatLogLine(line) : line}`
}
