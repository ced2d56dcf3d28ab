// `npm start`: the whole topology as local processes. Prints what it started, then every process's log,
// one line per request. Ctrl-C or SIGTERM stops everything; SIGHUP (`npm run restart:rolling`) restarts the
// replicas one by one without failing a request.
import { randomBytes } from 'node:crypto'
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { installMissing, MissingBinaryError } from './binaries.ts'
import { currentEngine, engineName } from './engines.ts'
import { LocalStack } from './local-stack.ts'
import { RedisClusterGroup } from './redis-cluster.ts'
import { colourFor, formatLine } from './log-format.ts'
import type { Replica } from './replicas.ts'
import { SETTING_VARIABLES } from '../services/config.ts'
import { writeScrapeConfig } from './prometheus.ts'
import { LAUNCHER_PID_FILE, ROLLING_RESTART_LOG, RUN_DIR } from './paths.ts'

const env = process.env
const number = (name: string, fallback: number): number => {
  const value = Number(env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`)
  return value
}

// Replica settings a user may give the start command reach every replica (but the address, name and Redis,
// which the stack sets itself; REDIS_URL instead uses an existing Redis).
const PASSED_TO_REPLICAS = SETTING_VARIABLES.filter(name => !['HOST', 'PORT', 'REPLICA_NAME', 'REDIS_URL'].includes(name))

const colour = process.stdout.isTTY || env.FORCE_COLOR ? (source: string, i: number) => colourFor(source, i) : () => undefined
const sources = new Map<string, number>()
const print = (source: string, line: string) => {
  if (!sources.has(source)) sources.set(source, sources.size)
  console.log(formatLine(source, line, colour(source, sources.get(source)!), 9))
}

// The one place besides CI that installs anything: the user asked for the stack to run here.
try {
  const cluster = Boolean(env.REDIS_CLUSTER && env.REDIS_CLUSTER !== '0')
  const needsRedis = cluster || !env.REDIS_URL
  // Another engine (REDIS_ENGINE) is installed by harness/install-engines.sh, not here: only checked.
  const redis = !needsRedis || engineName() !== 'host' ? [] : cluster ? ['redis-server', 'redis-cli'] : ['redis-server']
  installMissing(['nginx', ...redis, ...(env.TLS_CERT_FILE ? [] : ['openssl'])], line => print('launcher', line))
  if (needsRedis) currentEngine()
} catch (err) {
  if (!(err instanceof MissingBinaryError)) throw err
  console.error(err.message)
  process.exit(1)
}

const replicas = number('REPLICAS', 3)
// HTTPS beside HTTP: the user's own certificate and key, or a self-signed pair for localhost kept in .run/tls.
if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
  console.error('TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither for a self-signed pair')
  process.exit(1)
}
const tls = env.TLS_CERT_FILE ? { cert: env.TLS_CERT_FILE, key: env.TLS_KEY_FILE! } : 'self-signed' as const
const trustedProxies = (env.LB_TRUSTED_PROXIES ?? '').split(',').map(s => s.trim()).filter(Boolean)
mkdirSync(RUN_DIR, { recursive: true })
// REDIS_CLUSTER=N (or 1 for 3): a Redis Cluster of N primaries, each with a replica, instead of one Redis.
const clusterPrimaries = env.REDIS_CLUSTER && env.REDIS_CLUSTER !== '0' ? Math.max(3, number('REDIS_CLUSTER', 3)) : 0
print('launcher', `starting ${clusterPrimaries ? `a Redis Cluster (${clusterPrimaries} primaries, a replica each)` : 'Redis'}, ${replicas} replicas and nginx …`)

let cluster: RedisClusterGroup | undefined
let stack: LocalStack
try {
  if (clusterPrimaries) {
    // A fresh cluster each time: its nodes' ports are picked anew, so last run's cluster config would not fit.
    const dir = join(RUN_DIR, 'redis-cluster')
    rmSync(dir, { recursive: true, force: true })
    cluster = await RedisClusterGroup.start({ dir, primaries: clusterPrimaries, password: randomBytes(24).toString('base64url'), onLine: (source, line) => print(source, line) })
  }
  stack = await LocalStack.start({
    replicas,
    basePort: number('BASE_PORT', 3001),
    lbPort: number('LB_PORT', 8080),
    redisPort: number('REDIS_PORT', 6380),
    metricsBasePort: number('METRICS_BASE_PORT', 9464),
    nginxStatusPort: number('NGINX_STATUS_PORT', 8081),
    tls,
    httpsPort: number('LB_HTTPS_PORT', 8443),
    redirectHttp: env.LB_HTTPS_REDIRECT === '1',
    trustedProxies,
    redisUrl: cluster ? cluster.nodes[0]!.url : env.REDIS_URL,
    // Redis keeps its data here across runs (append-only file).
    dir: RUN_DIR,
    env: {
      ...Object.fromEntries(PASSED_TO_REPLICAS.filter(k => env[k] !== undefined).map(k => [k, env[k]!])),
      ...(cluster ? { REDIS_CLUSTER_NODES: cluster.addresses } : {})
    },
    onLine: (source, line) => print(source, line)
  })
} catch (err) {
  console.error(`\nCould not start: ${(err as Error).message}`)
  await cluster?.stop()
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

/** What runs where: printed at start, and again after a rolling restart (the replicas' PIDs change). */
function printTable (): void {
  const rows = [
    ['NAME', 'PORT', 'PID', 'URL'],
    ...(cluster
      ? cluster.nodes.map(n => [n.name, String(n.port), String(n.process.pid), withoutPassword(n.url)])
      : [['redis', stack.redis ? String(stack.redis.port) : '-', stack.redis ? String(stack.redis.process.pid) : '-', withoutPassword(stack.redisUrl)]]),
    ...stack.replicas.map(r => [r.name, String(r.port), String(r.pid), r.url]),
    ['nginx', String(stack.nginx.port), String(stack.nginx.process.pid), stack.url],
    ['nginx', String(stack.nginx.httpsPort), String(stack.nginx.process.pid), stack.httpsUrl]
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  console.log(`\n${rows.map(r => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}\n`)
}
printTable()
const ownRedis = cluster?.nodes[0] ?? stack.redis
if (ownRedis?.password) {
  // Its password is new every run and printed nowhere: for redis-cli, it is in a file only this user can read.
  const passwordFile = join(RUN_DIR, 'redis-password')
  writeFileSync(passwordFile, `${ownRedis.password}\n`, { mode: 0o600 })
  chmodSync(passwordFile, 0o600)
  console.log(`Redis wants a password (new each run, in ${passwordFile}): REDISCLI_AUTH="$(cat ${passwordFile})" redis-cli ${cluster ? '-c ' : ''}-p ${ownRedis.port}\n`)
}
console.log(`${writeScrapeConfig(RUN_DIR, stack.replicas, stack.nginx.statusUrl).join('\n')}\n`)
console.log(`Open ${stack.url}/ or ${stack.httpsUrl}/ (${tls === 'self-signed'
  ? `certificate ${stack.tls!.cert}, self-signed: your browser asks once; curl --cacert it`
  : `certificate ${stack.tls!.cert}`}) — or watch requests hop between replicas:`)
console.log(`  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code} %header{x-served-by}\\n' ${stack.url}/; done`)
if (trustedProxies.length) console.log(`nginx believes X-Forwarded-For and X-Forwarded-Proto from ${trustedProxies.join(', ')} only.`)
if (env.LB_HTTPS_REDIRECT === '1') console.log(`Plain HTTP redirects to ${stack.httpsUrl}.`)
console.log(`Ctrl-C stops everything; \`npm run restart:rolling\` (SIGHUP to pid ${process.pid}) restarts the replicas one by one.\n`)
const pidFile = LAUNCHER_PID_FILE
writeFileSync(pidFile, `${process.pid}\n`)

let stopping = false
async function shutdown (signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  print('launcher', `${signal}: stopping nginx, replicas, Redis …`)
  await stack.stop()
  await cluster?.stop()
  rmSync(pidFile, { force: true })
  print('launcher', 'stopped')
  process.exit(0)
}
process.on('SIGINT', () => { shutdown('SIGINT').catch(() => process.exit(1)) })
process.on('SIGTERM', () => { shutdown('SIGTERM').catch(() => process.exit(1)) })

let restarting = false
/** A rolling restart's step: printed here, and recorded for `npm run restart:rolling`, which follows it. */
const restartStep = (line: string) => {
  print('launcher', `rolling restart: ${line}`)
  appendFileSync(ROLLING_RESTART_LOG, `${line}\n`)
}
process.on('SIGHUP', () => {
  if (stopping) return restartStep('failed: the stack is stopping')
  if (restarting) return restartStep('failed: a rolling restart is already under way')
  restarting = true
  const started = Date.now()
  restartStep(`started: ${stack.replicas.length} replicas, one by one`)
  stack.rollingRestart(restartStep)
    .then(() => {
      restartStep(`done: ${stack.replicas.length} replicas restarted in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      printTable()
      for (const replica of stack.replicas) reportExit(replica)
    },
    (err: Error) => restartStep(`failed: ${err.message}`))
    .finally(() => { restarting = false })
})

// A replica that dies on its own is reported, not hidden.
function reportExit (replica: Replica): void {
  const current = replica.process
  current.exited.then(exit => {
    if (!stopping && replica.process === current && !restarting) print('launcher', `${replica.name} exited (${exit.code ?? exit.signal})`)
  }, () => {})
}
for (const replica of stack.replicas) reportExit(replica)
