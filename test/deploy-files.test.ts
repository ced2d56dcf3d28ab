// The Docker files, checked with what runs without a Docker engine: Debian's docker-compose parses the compose
// file, and nginx -t accepts every config rendered from the one template (local and compose variants).
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { renderLocalMain, renderTemplate, TEMPLATE_PATH } from '../loadbalancer/render.ts'
import { findBinary } from '../harness/binaries.ts'
import { testNginxConfig } from '../harness/nginx.ts'
import { PROJECT_ROOT } from '../harness/paths.ts'

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

t.test('the Dockerfile: multi-stage, production deps, non-root, health check, exec-form start', async t => {
  const dockerfile = file('Dockerfile')
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage')
  t.match(dockerfile, /ARG NODE_IMAGE=node:\d+-slim/, 'a slim Node LTS image')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only')
  t.match(dockerfile, /^USER node$/m, 'runs as a non-root user')
  t.match(dockerfile, /^HEALTHCHECK /m)
  t.match(dockerfile, /^CMD \["node", "dist\/services\/server\.js"\]$/m, 'exec form')
})

t.test('nginx -t accepts every config rendered from the template', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-t-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', sub), { recursive: true })
  const template = readFileSync(TEMPLATE_PATH, 'utf8')
  const variants: Record<string, Record<string, string>> = {
    local: {
      NGINX_LISTEN: '127.0.0.1:8080',
      NGINX_UPSTREAM_SERVERS: 'server 127.0.0.1:3001 max_fails=1 fail_timeout=5s; server 127.0.0.1:3002 down;',
      NGINX_ACCESS_LOG: `${dir}/access.log upstreams`,
      NGINX_RESOLVER: ''
    },
    // The compose values; `app` only resolves inside the compose network, so loopback stands in for it.
    compose: Object.fromEntries(Object.entries(envFile(file('loadbalancer/docker.env')))
      .map(([k, v]) => [k, v.replace('app:3000', '127.0.0.1:3000').replace('/dev/stdout', `${dir}/access.log`)]))
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
