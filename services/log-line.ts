// The readable form of the replica's pino lines, one source for both places people read them: the replica's own
// output with LOG_FORMAT=pretty (`docker compose logs`), and the local start command, which reads JSON from its
// replicas. A request: "14:58:09.874 GET / 200 1.6ms  <request id>"; anything else: "14:58:09.874 WARN message".
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

export function formatLogEntry (entry: Record<string, unknown>): string {
  const time = new Date(Number(entry.time)).toISOString().slice(11, 23)
  const reqId = entry.reqId ? `  ${String(entry.reqId)}` : ''
  if (entry.msg === 'request') {
    return `${time} ${String(entry.method)} ${String(entry.url)} ${String(entry.statusCode)} ${String(entry.ms)}ms${reqId}`
  }
  const level = LEVELS[Number(entry.level)] ?? ''
  const err = entry.err as { message?: string } | undefined
  return `${time} ${level} ${String(entry.msg)}${err?.message ? `: ${err.message}` : ''}${reqId}`
}

/** A pino JSON line in its readable form; a line that is not JSON is returned as it is. */
export function formatLogLine (line: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line)
  } catch {
    return line
  }
  return formatLogEntry(entry)
}
