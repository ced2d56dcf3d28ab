// Reads the environment once, at the edge, into a typed and validated object.
// Nothing below this file touches process.env.
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import type { LogFormat } from './logger.ts'
import { checkedKeyPrefix } from './session-store/keys.ts'

export interface Address {
  host: string
  port: number
}

export interface RedisConfig {
  url: string
  /** Sentinel addresses; when set, `url` only supplies credentials, TLS and db. */
  sentinels: Address[]
  sentinelName: string
  /** Redis Cluster nodes to discover the cluster from; when set, `url` only supplies credentials and TLS. */
  clusterNodes: Address[]
  /** Bound on every command, queueing included: past it the request gets a 503. */
  commandTimeoutMs: number
  /** PEM file to verify a rediss:// server with (a private CA). */
  tlsCaFile: string | undefined
  /** Overrides the URL's password (REDIS_PASSWORD_FILE, for Docker secrets). */
  password: string | undefined
}

export interface SessionConfig {
  /** First signs, the rest still verify: rotation without logging anyone out. */
  secrets: string[]
  idleTtlMs: number
  maxAgeMs: number
  keyPrefix: string
  cookieName: string
  /** 'auto': Secure when the request was HTTPS; true: always (HTTPS-only sites, with the __Host- prefix). */
  cookieSecure: 'auto' | true
  /**
   * Logins and logouts are answered only once this many Redis replicas have them (WAIT), so that a failover
   * cannot lose or undo them; 0 answers as soon as the primary has them.
   */
  waitReplicas: number
  waitTimeoutMs: number
  /** The most live sessions one user may have; a login beyond it ends the oldest. */
  maxPerUser: number
  /** A write runs in Redis within this long after its request started, or not at all (below the command timeout). */
  writeWindowMs: number
  /** nginx sends it with every request: only then is its request id trusted to recognise a re-sent login. */
  balancerSecret: string | undefined
}

/**
 * Every setting a replica reads, with its default: the one list that the start command passes through to its
 * replicas, and that the README's configuration table is checked against (test/unit/config.test.ts).
 * `file`: the value may come from the file named by NAME_FILE instead (Docker secrets).
 */
export const SETTINGS = [
  { name: 'SESSION_SECRET', file: true },
  { name: 'BALANCER_SECRET', file: true },
  { name: 'SESSION_IDLE_TTL', default: '30m' },
  { name: 'SESSION_MAX_AGE', default: '12h' },
  { name: 'SESSION_KEY_PREFIX', default: 'sess:' },
  { name: 'SESSION_COOKIE_NAME' },
  { name: 'SESSION_WAIT_REPLICAS', default: '0' },
  { name: 'SESSION_WAIT_TIMEOUT', default: '250ms' },
  { name: 'SESSION_MAX_PER_USER', default: '50' },
  { name: 'HTTPS_ONLY', default: '0' },
  { name: 'REDIS_URL', default: 'redis://127.0.0.1:6379' },
  { name: 'REDIS_PASSWORD', file: true },
  { name: 'REDIS_TLS_CA_FILE' },
  { name: 'REDIS_SENTINELS' },
  { name: 'REDIS_SENTINEL_NAME', default: 'mymaster' },
  { name: 'REDIS_CLUSTER_NODES' },
  { name: 'REDIS_COMMAND_TIMEOUT', default: '500ms' },
  { name: 'TRUST_PROXY', default: 'loopback' },
  { name: 'LOGIN_RATE_LIMIT', default: '10' },
  { name: 'SHUTDOWN_DRAIN', default: '5s' },
  { name: 'SHUTDOWN_GRACE', default: '10s' },
  { name: 'HOST', default: '0.0.0.0' },
  { name: 'PORT', default: '3000' },
  { name: 'METRICS_PORT', default: '9464' },
  { name: 'REPLICA_NAME' },
  { name: 'REPLICA_NAME_FROM_DNS' },
  { name: 'LOG_LEVEL', default: 'info' },
  { name: 'LOG_FORMAT', default: 'json' },
  { name: 'NODE_ENV' }
] as const satisfies ReadonlyArray<{ name: string, default?: string, file?: boolean }>

export type SettingName = typeof SETTINGS[number]['name']

const DEFAULTS = new Map<string, string>(SETTINGS.flatMap(s => 'default' in s ? [[s.name, s.default]] : []))

/** Every environment variable a replica reads (NAME_FILE included where allowed). */
export const SETTING_VARIABLES: string[] = SETTINGS.flatMap(s => 'file' in s ? [s.name, `${s.name}_FILE`] : [s.name])

export interface Config {
  replicaName: string
  /**
   * Under compose: the service whose container this replica is; serve.ts then names the replica after the
   * container ("app-2"), found by a reverse DNS lookup. Unset when REPLICA_NAME names it.
   */
  replicaNameFromDns: string | undefined
  host: string
  port: number
  /** Where /metrics is served (Prometheus' text format), on HOST; never on the public port. 0: no metrics at all. */
  metricsPort: number
  production: boolean
  logLevel: string
  logFormat: LogFormat
  /** Which peers may set X-Forwarded-* (proxy-addr syntax: addresses, CIDRs, 'loopback', 'uniquelocal'). */
  trustProxy: string
  /** Logins per minute per client address; 0 turns the limit off. */
  loginRateLimit: number
  /** After SIGTERM, how long connections already open may still be served (the listener closes at once). */
  shutdownDrainMs: number
  /** Upper bound on a graceful stop; past it the process exits anyway. */
  shutdownGraceMs: number
  session: SessionConfig
  redis: RedisConfig
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Publicly known values: anyone can forge cookies signed with them. */
export const EXAMPLE_SECRETS = new Set([
  'change-me-to-a-long-random-string-of-32-chars-or-more',
  'development-only-secret-not-for-production-use!!'
])
const DEVELOPMENT_SECRET = 'development-only-secret-not-for-production-use!!'
const MIN_SECRET_LENGTH = 32

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** "1800" (seconds), "10s", "30m", "12h", "250ms" → milliseconds. */
export function parseDuration (name: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim())
  if (!match) throw new ConfigError(`${name}=${value} is not a duration (examples: 1800, 10s, 30m, 12h, 250ms)`)
  const ms = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000)
  if (!(ms > 0)) throw new ConfigError(`${name} must be greater than zero`)
  return Math.round(ms)
}

function integer (name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}=${value} must be a whole number from ${min} to ${max}`)
  }
  return n
}

function parseBoolean (name: string, value: string): boolean {
  if (value === '1' || value === 'true') return true
  if (value === '0' || value === 'false') return false
  throw new ConfigError(`${name}=${value} must be 1 or 0`)
}

/** `host:port,host:port` (the port may be left out). */
function parseAddresses (name: string, value: string, defaultPort: number): Address[] {
  return value.split(',').map(s => s.trim()).filter(Boolean).map(entry => {
    const at = entry.lastIndexOf(':')
    const host = at > 0 ? entry.slice(0, at) : entry
    const port = at > 0 ? integer(`${name} port`, entry.slice(at + 1), 1, 65535) : defaultPort
    return { host, port }
  })
}

/** VAR, or the contents of the file named by VAR_FILE (Docker secrets). */
function fromEnvOrFile (env: NodeJS.ProcessEnv, name: SettingName): string | undefined {
  const file = env[`${name}_FILE`]
  if (!file) return env[name]
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new ConfigError(`${name}_FILE=${file} cannot be read: ${(err as Error).message}`)
  }
}

function parseSecrets (env: NodeJS.ProcessEnv, production: boolean): string[] {
  const raw = fromEnvOrFile(env, 'SESSION_SECRET') ?? ''
  const secrets = raw.split(',').map(s => s.trim()).filter(Boolean)
  if (secrets.length === 0) {
    if (production) {
      throw new ConfigError(
        'SESSION_SECRET is required when NODE_ENV=production: set it to a random string of at least ' +
        `${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 48\`), or a comma-separated list to rotate`
      )
    }
    return [DEVELOPMENT_SECRET]
  }
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(`each SESSION_SECRET entry must be at least ${MIN_SECRET_LENGTH} characters long`)
    }
    if (production && EXAMPLE_SECRETS.has(secret)) {
      throw new ConfigError('SESSION_SECRET holds a published example value: generate your own (`openssl rand -base64 48`)')
    }
  }
  return secrets
}

/** Sent by nginx in a header it renders into its config: long, and nothing nginx would read as syntax. */
function parseBalancerSecret (env: NodeJS.ProcessEnv): string | undefined {
  const secret = fromEnvOrFile(env, 'BALANCER_SECRET') || undefined
  if (secret !== undefined && !/^[A-Za-z0-9+/=_-]{32,}$/.test(secret)) {
    throw new ConfigError(`BALANCER_SECRET must be at least ${MIN_SECRET_LENGTH} characters of A-Z a-z 0-9 + / = _ - (e.g. \`openssl rand -hex 32\`)`)
  }
  return secret
}

/** A compose service name (lower-case letters, digits, `-` and `_`), or unset. */
function parseServiceName (name: string, value: string | undefined): string | undefined {
  if (!value) return undefined
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(value)) throw new ConfigError(`${name}=${value} must be a compose service name, e.g. app`)
  return value
}

function parseLogFormat (value: string): LogFormat {
  if (value === 'json' || value === 'pretty') return value
  throw new ConfigError(`LOG_FORMAT=${value} must be json or pretty`)
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const value = (name: SettingName): string => env[name] ?? DEFAULTS.get(name) ?? ''
  const production = env.NODE_ENV === 'production'
  const idleTtlMs = parseDuration('SESSION_IDLE_TTL', value('SESSION_IDLE_TTL'))
  const maxAgeMs = parseDuration('SESSION_MAX_AGE', value('SESSION_MAX_AGE'))
  if (maxAgeMs < idleTtlMs) throw new ConfigError('SESSION_MAX_AGE must not be shorter than SESSION_IDLE_TTL')
  const httpsOnly = parseBoolean('HTTPS_ONLY', value('HTTPS_ONLY'))
  const commandTimeoutMs = parseDuration('REDIS_COMMAND_TIMEOUT', value('REDIS_COMMAND_TIMEOUT'))
  const waitTimeoutMs = parseDuration('SESSION_WAIT_TIMEOUT', value('SESSION_WAIT_TIMEOUT'))
  if (waitTimeoutMs >= commandTimeoutMs) throw new ConfigError('SESSION_WAIT_TIMEOUT must be shorter than REDIS_COMMAND_TIMEOUT')
  const sentinels = parseAddresses('REDIS_SENTINELS', value('REDIS_SENTINELS'), 26379)
  const clusterNodes = parseAddresses('REDIS_CLUSTER_NODES', value('REDIS_CLUSTER_NODES'), 6379)
  const waitReplicas = integer('SESSION_WAIT_REPLICAS', value('SESSION_WAIT_REPLICAS'), 0, 16)
  if (sentinels.length > 0 && clusterNodes.length > 0) throw new ConfigError('set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both')
  const shutdownDrainMs = parseDuration('SHUTDOWN_DRAIN', value('SHUTDOWN_DRAIN'))
  const shutdownGraceMs = parseDuration('SHUTDOWN_GRACE', value('SHUTDOWN_GRACE'))
  if (shutdownDrainMs >= shutdownGraceMs) throw new ConfigError('SHUTDOWN_DRAIN must be shorter than SHUTDOWN_GRACE')
  const port = integer('PORT', value('PORT'), 0, 65535)
  const metricsPort = integer('METRICS_PORT', value('METRICS_PORT'), 0, 65535)
  if (metricsPort !== 0 && metricsPort === port) throw new ConfigError('METRICS_PORT must differ from PORT: the metrics are not for the public port')

  return {
    replicaName: value('REPLICA_NAME') || hostname(),
    replicaNameFromDns: value('REPLICA_NAME') ? undefined : parseServiceName('REPLICA_NAME_FROM_DNS', value('REPLICA_NAME_FROM_DNS') || undefined),
    host: value('HOST'),
    port,
    metricsPort,
    production,
    logLevel: value('LOG_LEVEL'),
    logFormat: parseLogFormat(value('LOG_FORMAT')),
    trustProxy: value('TRUST_PROXY'),
    loginRateLimit: integer('LOGIN_RATE_LIMIT', value('LOGIN_RATE_LIMIT'), 0, 1_000_000),
    shutdownDrainMs,
    shutdownGraceMs,
    session: {
      secrets: parseSecrets(env, production),
      idleTtlMs,
      maxAgeMs,
      keyPrefix: checkedKeyPrefix(value('SESSION_KEY_PREFIX'), message => new ConfigError(message)),
      cookieName: value('SESSION_COOKIE_NAME') || (httpsOnly ? '__Host-sid' : 'sid'),
      cookieSecure: httpsOnly ? true : 'auto',
      waitReplicas,
      waitTimeoutMs,
      maxPerUser: integer('SESSION_MAX_PER_USER', value('SESSION_MAX_PER_USER'), 1, 10_000),
      // A request answered 503 because a command timed out never writes later: its scripts refuse by then.
      // 90 %: what Redis runs just before the deadline must still reach the replica within its timeout.
      writeWindowMs: Math.floor(commandTimeoutMs * 0.9),
      balancerSecret: parseBalancerSecret(env)
    },
    redis: {
      url: value('REDIS_URL'),
      sentinels,
      clusterNodes,
      sentinelName: value('REDIS_SENTINEL_NAME'),
      commandTimeoutMs,
      tlsCaFile: value('REDIS_TLS_CA_FILE') || undefined,
      password: fromEnvOrFile(env, 'REDIS_PASSWORD') || undefined
    }
  }
}
