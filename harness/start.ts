// `npm start`: the whole topology as local processes. Prints what it started, then every process's log,
// one line per request. Ctrl-C or SIGTERM stops everything; SIGHUP (`npm run restart:rolling`) restarts the
// replicas one by one without failing a request.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MissingBinaryError, findBinary } from './binaries.ts'
import { Cluster } from './cluster.ts'
import { colourFor, formatLine } from './log-format.ts'
import { RUN_DIR } from './paths.ts'

const env = process.env
const number = (name: string, fallback: number): number => {
  const value = Number(env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`)
  return value
}

// Replica settings a user may give the start command; they reach every replica.
const PASSED_TO_REPLICAS = ['SESSION_SECRET', 'SESSION_SECRET_FILE', 'SESSION_IDLE_TTL', 'SESSION_MAX_AGE',
  'SESSION_KEY_PREFIX', 'SESSION_COOKIE_NAME', 'SESSION_WAIT_REPLICAS', 'SESSION_WAIT_TIMEOUT', 'HTTPS_ONLY', 'LOG_LEVEL',
  'LOGIN_RATE_LIMIT', 'TRUST_PROXY', 'REDIS_COMMAND_TIMEOUT', 'REDIS_PASSWORD_FILE', 'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES', 'REDIS_TLS_CA_FILE', 'SHUTDOWN_GRACE', 'SHUTDOWN_DRAIN', 'NODE_ENV',
  'BENCH_BLOB_ROUTES']

const colour = process.stdout.isTTY || env.FORCE_COLOR ? (source: string, i: number) => colourFor(source, i) : () => undefined
const sources = new Map<string, number>()
const print = (source: string, line: string) => {
  if (!sources.has(source)) sources.set(source, sources.size)
  console.log(formatLine(source, line, colour(source, sources.get(source)!), 9))
}

try {
  findBinary('nginx', line => print('launcher', line))
  if (!env.REDIS_URL) findBinary('redis-server', line => print('launcher', line))
} catch (err) {
  if (!(err instanceof MissingBinaryError)) throw err
  console.error(err.message)
  process.exit(1)
}

const replicas = number('REPLICAS', 3)
mkdirSync(RUN_DIR, { recursive: true })
print('launcher', `starting Redis, ${replicas} replicas and nginx …`)

let cluster: Cluster
try {
  cluster = await Cluster.start({
    replicas,
    basePort: number('BASE_PORT', 3001),
    lbPort: number('LB_PORT', 8080),
    redisPort: number('REDIS_PORT', 6380),
    redisUrl: env.REDIS_URL,
    // Redis keeps its data here across runs (append-only file).
    dir: RUN_DIR,
    env: Object.fromEntries(PASSED_TO_REPLICAS.filter(k => env[k] !== undefined).map(k => [k, env[k]!])),
    onLine: (source, line) => print(source, line)
  })
} catch (err) {
  console.error(`\nCould not start: ${(err as Error).message}`)
  process.exit(1)
}

/** A URL fit to print: its password masked (REDIS_URL may carry one). */
function withoutPassword (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(REDIS_URL)'
  }
}

const rows = [
  ['NAME', 'PORT', 'PID', 'URL'],
  ...(cluster.redis ? [['redis', String(cluster.redis.port), String(cluster.redis.process.pid), cluster.redis.url]] : [['redis', '-', '-', withoutPassword(cluster.redisUrl)]]),
  ...cluster.replicas.map(r => [r.name, String(r.port), String(r.pid), r.url]),
  ['nginx', String(cluster.nginx.port), String(cluster.nginx.process.pid), cluster.url]
]
const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
console.log(`\n${rows.map(r => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}\n`)
console.log(`Open ${cluster.url}/ — or watch requests hop between replicas:`)
console.log(`  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code} %header{x-served-by}\\n' ${cluster.url}/; done`)
console.log(`Ctrl-C stops everything; \`npm run restart:rolling\` (SIGHUP to pid ${process.pid}) restarts the replicas one by one.\n`)
const pidFile = join(RUN_DIR, 'launcher.pid')
writeFileSync(pidFile, `${process.pid}\n`)

let stopping = false
async function shutdown (signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  print('launcher', `${signal}: stopping nginx, replicas, Redis …`)
  await cluster.stop()
  rmSync(pidFile, { force: true })
  print('launcher', 'stopped')
  process.exit(0)
}
process.on('SIGINT', () => { shutdown('SIGINT').catch(() => process.exit(1)) })
process.on('SIGTERM', () => { shutdown('SIGTERM').catch(() => process.exit(1)) })

let restarting = false
process.on('SIGHUP', () => {
  if (restarting || stopping) return
  restarting = true
  print('launcher', 'rolling restart')
  cluster.rollingRestart(step => print('launcher', step))
    .then(() => print('launcher', 'rolling restart done'), (err: Error) => print('launcher', `rolling restart failed: ${err.message}`))
    .finally(() => { restarting = false })
})

// A replica that dies on its own is reported, not hidden.
for (const replica of cluster.replicas) {
  replica.process.exited.then(exit => {
    if (!stopping && !restarting) print('launcher', `${replica.name} exited (${exit.code ?? exit.signal})`)
  }, () => {})
}
