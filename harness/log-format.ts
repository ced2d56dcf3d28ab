// Turns the processes' output into one readable, coloured line each, compose-style: "replica-2 | GET / 200 1.4ms".
const COLOURS = [36, 35, 33, 34, 32, 91, 96, 95]
const FIXED: Record<string, number> = { nginx: 32, redis: 31 }
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

export function colourFor (source: string, index: number): number {
  return FIXED[source] ?? COLOURS[index % COLOURS.length] as number
}

/** A replica's pino JSON line, shortened: a request as "time METHOD url status ms reqId", anything else with its level. */
export function pinoLine (line: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line)
  } catch {
    return line
  }
  const time = new Date(Number(entry.time)).toISOString().slice(11, 23)
  const reqId = entry.reqId ? `  ${String(entry.reqId)}` : ''
  if (entry.msg === 'request') {
    return `${time} ${String(entry.method)} ${String(entry.url)} ${String(entry.statusCode)} ${String(entry.ms)}ms${reqId}`
  }
  const level = LEVELS[Number(entry.level)] ?? ''
  const err = entry.err as { message?: string } | undefined
  return `${time} ${level} ${String(entry.msg)}${err?.message ? `: ${err.message}` : ''}${reqId}`
}

export function formatLine (source: string, line: string, colour: number | undefined, width: number): string {
  const label = source.padEnd(width)
  const prefix = colour ? `\u001b[${colour}m${label} |\u001b[0m` : `${label} |`
  return `${prefix} ${source.startsWith('replica') ? pinoLine(line) : line}`
}
