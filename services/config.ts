// Reads the environment once, at the edge, into a typed and validated object: env-schema checks every variable
// against services/config-schema.ts, then the rules that tie variables together are checked here.
// Nothing below this file touches process.env.
import { accessSync, constants, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import envSchema from 'env-schema'
import { type Address, CONFIG_SCHEMA, EXAMPLE_SECRETS, KEYWORDS, MIN_SECRET_LENGTH, SETTINGS, type SettingSchema } from './config-schema.ts'
import type { LogFormat } from './logger.ts'
import { checkedKeyPrefix } from './session-store/keys.ts'

export { type Address, EXAMPLE_SECRETS, SETTING_VARIABLES, SETTINGS } from './config-schema.ts'

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
  /** A client certificate and its key, for a server that asks for one; both or neither. */
  tlsCertFile: string | undefined
  tlsKeyFile: string | undefined
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

/** The variables as the schema leaves them: defaults filled in, durations in ms, lists split. */
interface Env {
  SESSION_SECRET?: string[]
  BALANCER_SECRET?: string
  SESSION_IDLE_TTL: number
  SESSION_MAX_AGE: number
  SESSION_KEY_PREFIX: string
  SESSION_COOKIE_NAME?: string
  SESSION_WAIT_REPLICAS: number
  SESSION_WAIT_TIMEOUT: number
  SESSION_MAX_PER_USER: number
  HTTPS_ONLY: boolean
  LOGIN_RATE_LIMIT: number
  REDIS_URL: string
  REDIS_PASSWORD?: string
  REDIS_TLS_CA_FILE?: string
  REDIS_TLS_CERT_FILE?: string
  REDIS_TLS_KEY_FILE?: string
  REDIS_SENTINELS?: Address[]
  REDIS_SENTINEL_NAME: string
  REDIS_CLUSTER_NODES?: Address[]
  REDIS_COMMAND_TIMEOUT: number
  TRUST_PROXY: string
  SHUTDOWN_DRAIN: number
  SHUTDOWN_GRACE: number
  HOST: string
  PORT: number
  METRICS_PORT: number
  REPLICA_NAME?: string
  REPLICA_NAME_FROM_DNS?: string
  LOG_LEVEL: string
  LOG_FORMAT: LogFormat
  NODE_ENV?: string
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const DEVELOPMENT_SECRET = 'development-only-secret-not-for-production-use!!'

const PROPERTIES: Record<string, SettingSchema> = SETTINGS

/**
 * What the schema is given: each variable once, from NAME_FILE where that is allowed and set (Docker secrets).
 * An empty value counts as unset (compose passes `${VAR:-}` as one).
 */
function readVariables (env: NodeJS.ProcessEnv): Record<string, string> {
  const data: Record<string, string> = {}
  for (const [name, property] of Object.entries(PROPERTIES)) {
    const file = property.secret ? env[`${name}_FILE`] : undefined
    let value = env[name]
    if (file) {
      try {
        value = readFileSync(file, 'utf8').trim()
      } catch (err) {
        throw new ConfigError(`${name}_FILE=${file} cannot be read: ${(err as Error).message}`)
      }
    }
    if (value) data[name] = value
  }
  return data
}

interface SchemaError {
  keyword: string
  instancePath: string
  message?: string
}

/** One line a user can act on: the variable, its value (never a secret's), and what it must be. */
function explain (error: SchemaError, data: Record<string, string>): string {
  const name = error.instancePath.slice(1)
  const property = PROPERTIES[name]
  if (!property) return `${name} ${error.message}`
  const given = property.secret ? name : `${name}=${data[name]}`
  if (property.invalid) return `${given} ${property.invalid}`
  if (property.type === 'integer') return `${given} must be a whole number from ${property.minimum} to ${property.maximum}`
  if (property.enum) return `${given} must be ${property.enum.join(', ').replace(/, ([^,]+)$/, ' or $1')}`
  return `${given} ${error.message}`
}

type Ajv = Exclude<NonNullable<envSchema.EnvSchemaOpt['ajv']>, { customOptions: unknown }>

/** env-schema's own Ajv with our keywords, made on the first load and reused: it compiles the schema once. */
let configuredAjv: Ajv | undefined

function validate (data: Record<string, string>): Env {
  try {
    return envSchema<Env>({
      schema: CONFIG_SCHEMA,
      data,
      env: false,
      ajv: configuredAjv ?? {
        customOptions (ajv) {
          for (const keyword of KEYWORDS) ajv.addKeyword(keyword)
          configuredAjv = ajv
          return ajv
        }
      }
    })
  } catch (err) {
    const errors = (err as { errors?: SchemaError[] }).errors
    if (!errors) throw err
    throw new ConfigError([...new Set(errors.map(error => explain(error, data)))].join('; '))
  }
}

/** Production has no working default: a secret must be set, long, and not one published in this repository. */
function sessionSecrets (listed: string[] | undefined, production: boolean): string[] {
  const secrets = (listed ?? []).map(s => s.trim()).filter(Boolean)
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

/** The rules that tie two variables together, each with the message that stops the replica. */
function relations (env: Env): Array<[broken: boolean, message: string]> {
  return [
    [env.SESSION_MAX_AGE < env.SESSION_IDLE_TTL, 'SESSION_MAX_AGE must not be shorter than SESSION_IDLE_TTL'],
    [env.SESSION_WAIT_TIMEOUT >= env.REDIS_COMMAND_TIMEOUT, 'SESSION_WAIT_TIMEOUT must be shorter than REDIS_COMMAND_TIMEOUT'],
    [Boolean(env.REDIS_SENTINELS?.length && env.REDIS_CLUSTER_NODES?.length), 'set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both'],
    [Boolean(env.REDIS_TLS_CERT_FILE) !== Boolean(env.REDIS_TLS_KEY_FILE), 'set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE together'],
    [Boolean(env.REDIS_TLS_CERT_FILE) && !env.REDIS_URL.startsWith('rediss:'), 'REDIS_TLS_CERT_FILE needs a rediss:// REDIS_URL'],
    [env.SHUTDOWN_DRAIN >= env.SHUTDOWN_GRACE, 'SHUTDOWN_DRAIN must be shorter than SHUTDOWN_GRACE'],
    [env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT, 'METRICS_PORT must differ from PORT: the metrics are not for the public port']
  ]
}

export function loadConfig (processEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = validate(readVariables(processEnv))
  const broken = relations(env).filter(([isBroken]) => isBroken).map(([, message]) => message)
  if (broken.length > 0) throw new ConfigError(broken.join('; '))
  // services/redis.ts reads these files when it first connects: a wrong path stops the replica here, in one line.
  for (const name of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'] as const) {
    const file = env[name]
    try {
      if (file) accessSync(file, constants.R_OK)
    } catch (err) {
      throw new ConfigError(`${name}=${file} cannot be read: ${(err as Error).message}`)
    }
  }
  const production = env.NODE_ENV === 'production'

  return {
    replicaName: env.REPLICA_NAME ?? hostname(),
    replicaNameFromDns: env.REPLICA_NAME ? undefined : env.REPLICA_NAME_FROM_DNS,
    host: env.HOST,
    port: env.PORT,
    metricsPort: env.METRICS_PORT,
    production,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT,
    trustProxy: env.TRUST_PROXY,
    loginRateLimit: env.LOGIN_RATE_LIMIT,
    shutdownDrainMs: env.SHUTDOWN_DRAIN,
    shutdownGraceMs: env.SHUTDOWN_GRACE,
    session: {
      secrets: sessionSecrets(env.SESSION_SECRET, production),
      idleTtlMs: env.SESSION_IDLE_TTL,
      maxAgeMs: env.SESSION_MAX_AGE,
      keyPrefix: checkedKeyPrefix(env.SESSION_KEY_PREFIX, message => new ConfigError(message)),
      cookieName: env.SESSION_COOKIE_NAME ?? (env.HTTPS_ONLY ? '__Host-sid' : 'sid'),
      cookieSecure: env.HTTPS_ONLY ? true : 'auto',
      waitReplicas: env.SESSION_WAIT_REPLICAS,
      waitTimeoutMs: env.SESSION_WAIT_TIMEOUT,
      maxPerUser: env.SESSION_MAX_PER_USER,
      // A request answered 503 because a command timed out never writes later: its scripts refuse by then.
      // 90 %: what Redis runs just before the deadline must still reach the replica within its timeout.
      writeWindowMs: Math.floor(env.REDIS_COMMAND_TIMEOUT * 0.9),
      balancerSecret: env.BALANCER_SECRET
    },
    redis: {
      url: env.REDIS_URL,
      sentinels: env.REDIS_SENTINELS ?? [],
      clusterNodes: env.REDIS_CLUSTER_NODES ?? [],
      sentinelName: env.REDIS_SENTINEL_NAME,
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT,
      tlsCaFile: env.REDIS_TLS_CA_FILE,
      tlsCertFile: env.REDIS_TLS_CERT_FILE,
      tlsKeyFile: env.REDIS_TLS_KEY_FILE,
      password: env.REDIS_PASSWORD
    }
  }
}
