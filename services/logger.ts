// pino settings shared by every replica: the replica's name on every line, and nothing that lets a reader
// of the logs take over a session (cookies, session ids, secrets are redacted).
import { type DestinationStream, type LoggerOptions, pino } from 'pino'
import { formatLogEntry } from './log-line.ts'

/** JSON for machines (log shippers), or one readable line per entry for people (`docker compose logs`). */
export type LogFormat = 'json' | 'pretty'

export function loggerOptions (replicaName: string, level: string, format: LogFormat = 'json'): LoggerOptions & { stream?: DestinationStream } {
  return {
    ...(format === 'pretty' && { stream: readableStream() }),
    level,
    base: { replica: replicaName },
    timestamp: () => `,"time":${Date.now()}`,
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
        'req.headers["x-balancer-secret"]',
        'res.headers["set-cookie"]',
        'headers.cookie',
        '*.sessionId',
        '*.secret',
        '*.password'
      ],
      censor: '[redacted]'
    }
  }
}

/** Rewrites each JSON entry pino produces (already redacted) as one readable line, prefixed with the replica's name. */
function readableStream (): DestinationStream {
  const stdout = pino.destination(1) // the synchronous stdout writer pino uses by default
  return {
    write (line: string) {
      const entry = JSON.parse(line)
      stdout.write(`${String(entry.replica)} ${formatLogEntry(entry)}\n`)
    }
  }
}
