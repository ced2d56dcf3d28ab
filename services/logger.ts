// pino settings shared by every replica: the replica's name on every line, and nothing that lets a reader
// of the logs take over a session (cookies, session ids, secrets are redacted).
import type { LoggerOptions } from 'pino'

export function loggerOptions (replicaName: string, level: string): LoggerOptions {
  return {
    level,
    base: { replica: replicaName },
    timestamp: () => `,"time":${Date.now()}`,
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
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

/** A session id as logs may show it: enough to correlate lines, too little to use. */
export function redactId (id: string): string {
  return `${id.slice(0, 6)}…`
}
