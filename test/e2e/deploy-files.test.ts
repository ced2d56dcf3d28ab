// The Docker files, checked with what runs without a Docker engine: Debian's docker-compose parses the compose
// file, nginx -t accepts every config rendered from the one template (local and compose variants), and the image's
// runtime stage (production dependencies and dist/services only) is rebuilt as a directory and run.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { findBinary } from '../../harness/binaries.ts'
import { Browser, visitsOf } from '../../harness/client.ts'
import { renderLocalMain, renderTemplate, tlsDirectives, trustedProxyDirectives } from '../../harness/nginx-config.ts'
import { testNginxConfig } from '../../harness/nginx.ts'
import { PROJECT_ROOT, REPORT_PORT_PRELOAD, TEMPLATE_PATH } from '../../harness/paths.ts'
import { exitWithChildrenOnSignals, ManagedProcess, pollUntil } from '../../harness/processes.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { reportedPort } from '../../harness/replicas.ts'
import { selfSignedPair } from '../../harness/self-signed-cert.ts'
import { scaled } from '../../harness/timeouts.ts'

exitWithChildrenOnSignals()

const run = promisify(execFile)
const file = (name: string) => readFileSync(join(PROJECT_ROOT, name), 'utf8')

function envFile (text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line)
    if (match) vars[match[1]!] = match[2]!
  }
  return vars
}

t.test('docker-compose.yml parses and describes the topology', async t => {
  const compose = findBinary('docker-compose')
  const { stdout } = await run(compose, ['-f', join(PROJECT_ROOT, 'docker-compose.yml'), 'config'], {
    cwd: PROJECT_ROOT
  })
  const config = parse(stdout)
  const { redis, app, nginx } = config.services
  t.equal(app.scale, 3, 'three replicas')
  t.equal(app.init, true, 'an init process reaps and forwards signals')
  t.equal(app.environment.NODE_ENV, 'production')
  t.notOk(app.environment.SESSION_SECRET, 'no secret written into the file')
  t.equal(app.depends_on.redis.condition, 'service_healthy')
  t.equal(nginx.depends_on.app.condition, 'service_healthy')
  t.match(JSON.stringify(nginx.ports), /8080/, 'nginx published on 8080')
  t.notOk(redis.ports, 'Redis is not published')
  t.match(redis.command.join(' '), /--appendonly yes/, 'Redis persists')
  t.match(redis.command.join(' '), /--requirepass/, 'Redis needs a password')
  t.ok(redis.healthcheck && nginx.healthcheck, 'health checks')
})

t.test('the sentinel profile adds a Redis replica and three Sentinels, and the app follows them', async t => {
  const compose = findBinary('docker-compose')
  const sentinels = 'sentinel-1:26379,sentinel-2:26379,sentinel-3:26379'
  const { stdout } = await run(compose, ['-f', join(PROJECT_ROOT, 'docker-compose.yml'), '--profile', 'sentinel', 'config'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, REDIS_SENTINELS: sentinels, SESSION_WAIT_REPLICAS: '1' }
  })
  const { services } = parse(stdout)
  t.match(services['redis-replica'].command.join(' '), /--replicaof redis 6379/)
  for (const name of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
    t.match(services[name].command.join(' '), /sentinel monitor mymaster redis 6379 2/, `${name} monitors the primary`)
    t.notOk(services[name].ports, `${name} is not published`)
  }
  t.equal(services.app.environment.REDIS_SENTINELS, sentinels, 'the app is told where the Sentinels are')
  t.equal(services.app.environment.SESSION_WAIT_REPLICAS, '1')
})

t.test('the cluster profile adds six Redis Cluster nodes joined into three shards with a replica each, and the app finds them', async t => {
  const compose = findBinary('docker-compose')
  const nodes = 'redis-node-1:6379,redis-node-2:6379,redis-node-3:6379'
  const { stdout } = await run(compose, ['-f', join(PROJECT_ROOT, 'docker-compose.yml'),
    '--profile', 'cluster', 'config'], { cwd: PROJECT_ROOT, env: { ...process.env, REDIS_CLUSTER_NODES: nodes } })
  const { services } = parse(stdout)
  for (let i = 1; i <= 6; i++) {
    const node = services[`redis-node-${i}`]
    t.match(node.command.join(' '), /--cluster-enabled yes --cluster-node-timeout 2000 --cluster-require-full-coverage no/, `node ${i} is a cluster node`)
    t.match(node.command.join(' '), /--appendonly yes .*--requirepass/, `node ${i}: append-only, password`)
    t.notOk(node.ports, `node ${i} is not published`)
  }
  t.match(services['redis-cluster-init'].command.join(' '), /--cluster create [\s\S]*--cluster-replicas 1/, 'joined with a replica per primary')
  t.equal(services.app.environment.REDIS_CLUSTER_NODES, nodes, 'the app is told where the nodes are')
})

t.test('the Dockerfile: multi-stage, production deps, non-root, health check, exec-form start', async t => {
  const dockerfile = file('Dockerfile')
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage')
  t.match(dockerfile, /ARG NODE_IMAGE=node:\d+-slim/, 'a slim Node LTS image')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only')
  t.match(dockerfile, /^USER node$/m, 'runs as a non-root user')
  t.match(dockerfile, /^HEALTHCHECK /m)
  t.match(dockerfile, /^CMD \["node", "dist\/services\/server\.js"\]$/m, 'exec form')
})

t.test('the image\'s runtime stage, as a directory: production dependencies only, NODE_ENV=production, it serves', async t => {
  // What the Dockerfile's last stage holds: package.json, `npm ci --omit=dev` (from npm's cache: no network), and
  // the compiled dist/services. A runtime import of a dev dependency would fail here, as it would in the image.
  const app = mkdtempSync(join(tmpdir(), 'image-runtime-'))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  for (const name of ['package.json', 'package-lock.json']) cpSync(join(PROJECT_ROOT, name), join(app, name))
  await run('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app })
  cpSync(join(PROJECT_ROOT, 'dist', 'services'), join(app, 'dist', 'services'), { recursive: true })
  t.throws(() => readFileSync(join(app, 'node_modules', 'tap', 'package.json')), 'no dev dependency in it')

  const redis = await RedisServer.start({ dir: join(app, 'redis') })
  t.teardown(async () => await redis.stop())
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', REDIS_URL: redis.url, SHUTDOWN_DRAIN: '1s' }
  const server = join(app, 'dist', 'services', 'server.js') // node_modules resolve from here, as in the image
  const withoutSecret = new ManagedProcess('no-secret', process.execPath, [server], env)
  t.equal((await withoutSecret.exited).code, 1, 'production without SESSION_SECRET refuses to start')
  await pollUntil('the reason to be printed', async () => withoutSecret.tail.some(line => /SESSION_SECRET is required/.test(line)) || undefined, scaled(2000))

  const replica = new ManagedProcess('image', process.execPath, ['--import', REPORT_PORT_PRELOAD, server], { ...env, SESSION_SECRET: randomBytes(48).toString('base64url') }, undefined, { ipc: true })
  t.teardown(async () => { await replica.stop() })
  const url = `http://127.0.0.1:${await reportedPort(replica)}`
  await pollUntil('the replica to be ready', async () => (await fetch(`${url}/health/ready`).catch(() => null))?.ok ? true : undefined, scaled(15_000))
  const user = new Browser(url)
  await user.login('docker')
  t.equal(visitsOf((await user.get('/')).text), 1, 'a login and a visit')
  t.same(await replica.stop(), { code: 0, signal: null }, 'a clean stop on SIGTERM')
})

t.test('nginx -t accepts every config rendered from the template', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-t-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', sub), { recursive: true })
  const template = readFileSync(TEMPLATE_PATH, 'utf8')
  const { stderr } = await run(findBinary('nginx'), ['-v'])
  const [major = 0, minor = 0, patch = 0] = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(stderr)!.slice(1).map(Number)
  const upstreamResolve = major * 1e6 + minor * 1e3 + patch >= 1_027_003
  t.comment(`nginx ${major}.${minor}.${patch}: upstream resolve ${upstreamResolve ? 'checked' : 'left to the compose test'}`)
  const variants: Record<string, Record<string, string>> = {
    local: {
      NGINX_LISTEN: '127.0.0.1:8080',
      NGINX_STATUS_LISTEN: '127.0.0.1:8081',
      NGINX_UPSTREAM_SERVERS: 'server 127.0.0.1:3001 max_fails=1 fail_timeout=5s; server 127.0.0.1:3002 down;',
      NGINX_ACCESS_LOG: `${dir}/access.log upstreams`,
      NGINX_RESOLVER: '',
      NGINX_BALANCER_SECRET: 'a0'.repeat(32),
      ...tlsDirectives(undefined),
      ...trustedProxyDirectives([])
    },
    // HTTPS beside HTTP, redirected to it, behind trusted proxies (IPv4 and IPv6).
    https: {
      NGINX_LISTEN: '127.0.0.1:8080',
      NGINX_STATUS_LISTEN: '127.0.0.1:8081',
      NGINX_UPSTREAM_SERVERS: 'server 127.0.0.1:3001 max_fails=1 fail_timeout=5s;',
      NGINX_ACCESS_LOG: 'off',
      NGINX_RESOLVER: '',
      NGINX_BALANCER_SECRET: '',
      ...tlsDirectives({ listen: '127.0.0.1:8443', ...selfSignedPair(dir), redirectPort: 8443 }),
      ...trustedProxyDirectives(['10.0.0.5', '10.1.0.0/16', 'fd00::/8'])
    },
    // The compose values; `app` only resolves inside the compose network, so loopback stands in for it, and the
    // self-signed pair above for the one nginx makes in its container. An nginx older than 1.27.3 (Debian
    // bookworm's 1.22) has no upstream `resolve`: it checks the rest, and compose.test.ts runs it whole on 1.30.
    compose: Object.fromEntries(Object.entries(envFile(file('loadbalancer/docker.env')))
      .map(([k, v]) => [k, v.replace('app:3000', '127.0.0.1:3000').replace('/dev/stdout', `${dir}/access.log`)
        .replace('/etc/nginx/tls', dir).replace(upstreamResolve ? '' : ' resolve ', ' ')]))
  }
  for (const [name, vars] of Object.entries(variants)) {
    const include = join(dir, `${name}.conf`)
    const rendered = renderTemplate(template, vars)
    t.notMatch(rendered, /\$\{NGINX_[A-Z_]+\}/, `${name}: every variable filled`)
    writeFileSync(include, rendered)
    const main = join(dir, `${name}-main.conf`)
    writeFileSync(main, renderLocalMain(dir, include, 1))
    await t.resolves(testNginxConfig(main), `${name}: nginx -t passes`)
  }
  // And a config that is wrong is caught: the check can fail.
  writeFileSync(join(dir, 'broken.conf'), 'upstream replicas { }')
  writeFileSync(join(dir, 'broken-main.conf'), renderLocalMain(dir, join(dir, 'broken.conf'), 1))
  await t.rejects(testNginxConfig(join(dir, 'broken-main.conf')), /no servers are inside upstream/)
})
