// Every environment variable a replica reads, as one JSON schema (env-schema validates it): its type, bounds,
// default and a description for the user. docs/configuration.md is generated from it (npm run docs:config), and
// docker-compose.yml's defaults are checked against it (test/unit/config-docs.test.ts).
// Two annotations of our own: `secret` (the value may come from the file NAME_FILE names, as Docker secrets
// do, and is never repeated in an error message) and `invalid` (what an error says when a pattern fails).

/** "1800" (seconds), "10s", "30m", "12h", "250ms" → milliseconds; throws with the reason. */
export function parseDuration (value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim())
  if (!match) throw new Error('is not a duration (examples: 1800, 10s, 30m, 12h, 250ms)')
  const ms = Number(match[1]) * UNITS[match[2] ?? 's']!
  if (!(ms > 0)) throw new Error('must be greater than zero')
  return Math.round(ms)
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export interface Address {
  host: string
  port: number
}

/** `host:port,host:port` (a port left out is the keyword's default port); throws with the reason. */
export function parseAddresses (value: string, defaultPort: number): Address[] {
  return value.split(',').map(s => s.trim()).filter(Boolean).map(entry => {
    const at = entry.lastIndexOf(':')
    if (at <= 0) return { host: entry, port: defaultPort }
    const port = Number(entry.slice(at + 1))
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${entry.slice(at + 1)} must be a whole number from 1 to 65535`)
    return { host: entry.slice(0, at), port }
  })
}

/** A keyword that turns the string it is given into what `convert` makes of it, or fails with its message. */
function converting (keyword: string, convert: (value: string, schema: any) => unknown) {
  function validate (schema: unknown, data: string, _parent: unknown, cxt?: { parentData: Record<string, unknown>, parentDataProperty: string | number }): boolean {
    try {
      cxt!.parentData[cxt!.parentDataProperty] = convert(data, schema)
      return true
    } catch (err) {
      validate.errors = [{ keyword, message: (err as Error).message, params: {} }]
      return false
    }
  }
  validate.errors = [] as Array<{ keyword: string, message: string, params: object }>
  return { keyword, type: 'string' as const, modifying: true, errors: true, validate }
}

/** The keywords env-schema's Ajv is given on top of its own (`separator`). */
export const KEYWORDS = [
  // `duration: true`: a duration in milliseconds.
  converting('duration', value => parseDuration(value)),
  // `addresses: <default port>`: a list of { host, port }.
  converting('addresses', (value, defaultPort: number) => parseAddresses(value, defaultPort)),
  // `flag: true`: 1/true or 0/false, as a boolean.
  converting('flag', value => {
    if (value === '1' || value === 'true') return true
    if (value === '0' || value === 'false') return false
    throw new Error('must be 1 or 0')
  }),
  { keyword: 'secret', schemaType: 'boolean' as const },
  { keyword: 'invalid', schemaType: 'string' as const }
]

export const MIN_SECRET_LENGTH = 32

/** Publicly known values: anyone can forge cookies signed with them. */
export const EXAMPLE_SECRETS = new Set([
  'change-me-to-a-long-random-string-of-32-chars-or-more',
  'development-only-secret-not-for-production-use!!'
])

export interface SettingSchema {
  type: 'string' | 'integer'
  description: string
  default?: string | number
  minimum?: number
  maximum?: number
  enum?: readonly string[]
  pattern?: string
  duration?: true
  addresses?: number
  flag?: true
  separator?: string
  secret?: true
  invalid?: string
}

const duration = (value: string) => ({ type: 'string', duration: true, default: value }) as const
const integer = (value: number, minimum: number, maximum: number) => ({ type: 'integer', default: value, minimum, maximum }) as const

// In the order of the generated table: sessions, Redis, the replica itself.
export const SETTINGS = {
  SESSION_SECRET: {
    type: 'string',
    separator: ',',
    secret: true,
    description: `Signs the session cookie: a random string of at least ${MIN_SECRET_LENGTH} characters ` +
      '(`openssl rand -base64 48`). A comma-separated list rotates secrets: the first signs, all of them verify, so ' +
      'nobody is logged out. Required with `NODE_ENV=production` (no published example value is accepted there); ' +
      'elsewhere a development value is used. `npm start` and compose generate one'
  },
  BALANCER_SECRET: {
    type: 'string',
    pattern: `^[A-Za-z0-9+/=_-]{${MIN_SECRET_LENGTH},}$`,
    secret: true,
    invalid: `must be at least ${MIN_SECRET_LENGTH} characters of A-Z a-z 0-9 + / = _ - (e.g. \`openssl rand -hex 32\`)`,
    description: 'What nginx sends in `X-Balancer-Secret` (the template\'s `NGINX_BALANCER_SECRET`): at least ' +
      `${MIN_SECRET_LENGTH} characters of \`A-Z a-z 0-9 + / = _ -\`. Only a login carrying it has its request id ` +
      'recognised when nginx re-sends it; unset, a re-sent login may leave a second session. `npm start` and ' +
      'compose generate one'
  },
  SESSION_IDLE_TTL: {
    ...duration('30m'),
    description: 'Sliding idle expiry: a session unused this long ends. A duration: `10s`, `30m`, `1h`, `250ms`, or seconds'
  },
  SESSION_MAX_AGE: {
    ...duration('12h'),
    description: 'Absolute lifetime of a session after login, which no activity extends; not shorter than `SESSION_IDLE_TTL`'
  },
  SESSION_KEY_PREFIX: {
    type: 'string',
    default: 'sess:',
    description: 'Prefix of every Redis key the session store (and the login rate limit) writes'
  },
  SESSION_COOKIE_NAME: {
    type: 'string',
    description: 'Name of the session cookie; unset: `sid`, or `__Host-sid` with `HTTPS_ONLY=1`'
  },
  SESSION_WAIT_REPLICAS: {
    ...integer(0, 0, 16),
    description: 'Logins and logouts are answered only once this many Redis replicas have them (`WAIT`), so that ' +
      'a failover cannot lose or undo them; on a cluster, per shard written. `0` answers as soon as the primary has them'
  },
  SESSION_WAIT_TIMEOUT: {
    ...duration('250ms'),
    description: 'How long a login or logout waits for those replicas; shorter than `REDIS_COMMAND_TIMEOUT`'
  },
  SESSION_MAX_PER_USER: {
    ...integer(50, 1, 10_000),
    description: 'The most live sessions one user may have; a login beyond it ends that user\'s oldest session. 50 ' +
      'is far more browsers and devices than a person uses, and keeps `/sessions` (one row and two Redis reads per ' +
      'session) and log-out-everywhere small, whatever anyone does to a name'
  },
  HTTPS_ONLY: {
    type: 'string',
    flag: true,
    default: '0',
    description: '`1`: the site is only served over HTTPS: the cookie is always `Secure` and named `__Host-sid`. ' +
      '`0`: the cookie is `Secure` when the request came over HTTPS. `true` and `false` work too'
  },
  LOGIN_RATE_LIMIT: {
    ...integer(10, 0, 1_000_000),
    description: 'Logins per minute per client address, counted in Redis across all replicas; `0` turns the limit off'
  },
  REDIS_URL: {
    type: 'string',
    default: 'redis://127.0.0.1:6379',
    description: 'The Redis server: `rediss://` for TLS; user name, password and database number in the URL'
  },
  REDIS_PASSWORD: {
    type: 'string',
    secret: true,
    description: 'Overrides the password in `REDIS_URL` (for Docker secrets: `REDIS_PASSWORD_FILE`)'
  },
  REDIS_TLS_CA_FILE: {
    type: 'string',
    description: 'A PEM file with the certificate authority to verify a `rediss://` server with (a private CA)'
  },
  REDIS_TLS_CERT_FILE: {
    type: 'string',
    description: 'A PEM file with the certificate the replica presents to a `rediss://` server that asks for one ' +
      '(`tls-auth-clients yes`); with `REDIS_TLS_KEY_FILE`'
  },
  REDIS_TLS_KEY_FILE: {
    type: 'string',
    description: 'A PEM file with the private key of `REDIS_TLS_CERT_FILE`'
  },
  REDIS_SENTINELS: {
    type: 'string',
    addresses: 26379,
    description: '`host:port,host:port` (port 26379 when left out): find the primary through these Sentinels; ' +
      '`REDIS_URL` then gives only the credentials, TLS and database. Not with `REDIS_CLUSTER_NODES`'
  },
  REDIS_SENTINEL_NAME: {
    type: 'string',
    default: 'mymaster',
    description: 'The name the Sentinels monitor the primary under'
  },
  REDIS_CLUSTER_NODES: {
    type: 'string',
    addresses: 6379,
    description: '`host:port,host:port` (port 6379 when left out): a Redis Cluster, discovered from these nodes; ' +
      '`REDIS_URL` then gives only the credentials and TLS'
  },
  REDIS_COMMAND_TIMEOUT: {
    ...duration('500ms'),
    description: 'Bound on every Redis command, waiting for a connection included: past it the request gets a 503 ' +
      '(while Redis is unreachable, at once)'
  },
  TRUST_PROXY: {
    type: 'string',
    default: 'loopback',
    description: 'Which peers may set `X-Forwarded-*`: addresses, CIDRs, `loopback`, `uniquelocal` (comma-separated). ' +
      'The balancer only'
  },
  SHUTDOWN_DRAIN: {
    ...duration('5s'),
    description: 'After SIGTERM, how long connections already open may still be served (the listener closes at ' +
      'once); longer than the balancer\'s upstream keep-alive timeout (nginx here: 4 s), shorter than `SHUTDOWN_GRACE`'
  },
  SHUTDOWN_GRACE: {
    ...duration('10s'),
    description: 'Upper bound on a graceful stop: past it the process exits anyway'
  },
  HOST: {
    type: 'string',
    default: '0.0.0.0',
    description: 'The address the replica (and its metrics) listen on'
  },
  PORT: {
    ...integer(3000, 0, 65535),
    description: 'The port the replica serves the site on; `0`: any free port'
  },
  METRICS_PORT: {
    ...integer(9464, 0, 65535),
    description: 'Prometheus metrics at `/metrics` on this port (on `HOST`), never on `PORT`; `0` turns metrics off entirely'
  },
  REPLICA_NAME: {
    type: 'string',
    description: 'The replica\'s name in `X-Served-By`, its pages, metrics and log; unset: the host name'
  },
  REPLICA_NAME_FROM_DNS: {
    type: 'string',
    pattern: '^[a-z0-9][a-z0-9_-]*$',
    invalid: 'must be a compose service name, e.g. app',
    description: 'A compose service name (the compose file sets `app`): the replica names itself `app-N` after its ' +
      'container, from a reverse lookup of its own address in Docker\'s DNS; the host name when the lookup finds ' +
      'none. Ignored when `REPLICA_NAME` is set'
  },
  LOG_LEVEL: {
    type: 'string',
    default: 'info',
    enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    description: 'The least important log lines written: `debug` adds health checks and client errors'
  },
  LOG_FORMAT: {
    type: 'string',
    default: 'json',
    enum: ['json', 'pretty'],
    description: '`pretty`: one readable line per log entry (`app-2 14:58:09.874 GET / 200 1.6ms <request id>`) ' +
      'instead of pino\'s JSON; compose sets it'
  },
  NODE_ENV: {
    type: 'string',
    description: '`production`: `SESSION_SECRET` must be set, to no published example value; anything else runs with ' +
      'a development secret when it is unset'
  }
} as const satisfies Record<string, SettingSchema>

/** The schema env-schema validates the environment with. */
export const CONFIG_SCHEMA = { type: 'object', properties: SETTINGS, additionalProperties: false } as const

/** Every environment variable a replica reads (NAME_FILE included where allowed). */
export const SETTING_VARIABLES: string[] = Object.entries(SETTINGS as Record<string, SettingSchema>)
  .flatMap(([name, s]) => s.secret ? [name, `${name}_FILE`] : [name])
