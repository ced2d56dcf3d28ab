// Configuration is read once at the edge: wrong values stop a replica with a clear message, and production has no
// working default secret.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SERVER_ENTRY } from '../../harness/paths.ts'
import { ConfigError, EXAMPLE_SECRETS, loadConfig } from '../../services/config.ts'

const SECRET = 'x'.repeat(32)

t.test('production refuses to start without a proper secret', async t => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /SESSION_SECRET is required/)
  t.throws(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'short' }), /at least 32 characters/)
  for (const example of EXAMPLE_SECRETS) {
    t.throws(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET: example }), /published example/)
  }
  t.throws(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET_FILE: '/nonexistent/secret' }), /cannot be read/)
  t.same(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: ` ${SECRET}, ${'y'.repeat(40)} ` }).session.secrets,
    [SECRET, 'y'.repeat(40)], 'a list rotates: the first signs, all verify')
  t.equal(loadConfig({}).session.secrets.length, 1, 'development gets a development value')

  // The real entry point: a clear message and exit code 1, not a stack trace.
  const run = spawnSync(process.execPath, [SERVER_ENTRY], { env: { PATH: process.env.PATH, NODE_ENV: 'production' }, encoding: 'utf8', timeout: 10_000 })
  t.equal(run.status, 1)
  t.match(run.stderr, /^Configuration error: SESSION_SECRET is required/)
})

t.test('durations, bounds and switches are validated', async t => {
  const config = loadConfig({ SESSION_IDLE_TTL: '10s', SESSION_MAX_AGE: '1800', REDIS_COMMAND_TIMEOUT: '250ms', SESSION_WAIT_TIMEOUT: '100ms' })
  t.equal(config.session.idleTtlMs, 10_000)
  t.equal(config.session.maxAgeMs, 1_800_000, 'a bare number is seconds')
  t.equal(config.redis.commandTimeoutMs, 250)
  t.throws(() => loadConfig({ SESSION_IDLE_TTL: 'soon' }), ConfigError)
  t.throws(() => loadConfig({ SESSION_IDLE_TTL: '1h', SESSION_MAX_AGE: '10m' }), /must not be shorter/)
  t.throws(() => loadConfig({ SESSION_WAIT_TIMEOUT: '1s' }), /shorter than REDIS_COMMAND_TIMEOUT/)
  t.throws(() => loadConfig({ SHUTDOWN_DRAIN: '10s' }), /SHUTDOWN_DRAIN must be shorter than SHUTDOWN_GRACE/)
  t.equal(loadConfig({}).shutdownDrainMs, 5000, 'a replica waits up to 5 s for the balancer to let go of its connections')
  t.throws(() => loadConfig({ PORT: '70000' }), /whole number from 0 to 65535/)
  t.throws(() => loadConfig({ HTTPS_ONLY: 'yes' }), /must be 1 or 0/)
  t.same(loadConfig({ REDIS_SENTINELS: 'a:26379, b' }).redis.sentinels, [{ host: 'a', port: 26379 }, { host: 'b', port: 26379 }])
  t.same(loadConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2' }).redis.clusterNodes, [{ host: 'n1', port: 7000 }, { host: 'n2', port: 6379 }])
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'n1', REDIS_SENTINELS: 's1' }), /not both/)
  t.throws(() => loadConfig({ REDIS_URL: 'rediss://r', REDIS_TLS_CERT_FILE: '/c.pem' }), /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE together/)
  t.throws(() => loadConfig({ REDIS_URL: 'rediss://r', REDIS_TLS_KEY_FILE: '/k.pem' }), /together/)
  t.throws(() => loadConfig({ REDIS_TLS_CERT_FILE: '/c.pem', REDIS_TLS_KEY_FILE: '/k.pem' }), /needs a rediss:\/\/ REDIS_URL/, 'a client certificate over plain TCP: refused, not ignored')
  const pem = join(t.testdir(), 'client.pem')
  writeFileSync(pem, 'not checked here: the TLS handshake does')
  t.match(loadConfig({ REDIS_URL: 'rediss://r', REDIS_TLS_CERT_FILE: pem, REDIS_TLS_KEY_FILE: pem }).redis, { tlsCertFile: pem, tlsKeyFile: pem })
  t.throws(() => loadConfig({ REDIS_URL: 'rediss://r', REDIS_TLS_CERT_FILE: pem, REDIS_TLS_KEY_FILE: '/no/such-key.pem' }),
    /REDIS_TLS_KEY_FILE=\/no\/such-key\.pem cannot be read: ENOENT/, 'a wrong path stops the replica in one line')
  t.throws(() => loadConfig({ REDIS_URL: 'rediss://r', REDIS_TLS_CA_FILE: '/no/ca.pem' }), /REDIS_TLS_CA_FILE=\/no\/ca\.pem cannot be read/)
  t.equal(loadConfig({ REDIS_CLUSTER_NODES: 'n1', SESSION_WAIT_REPLICAS: '1' }).session.waitReplicas, 1, 'WAIT on a cluster: per node')
})

t.test('BALANCER_SECRET: long, and nothing nginx would read as syntax in its header line', async t => {
  t.equal(loadConfig({}).session.balancerSecret, undefined, 'unset: no request id is trusted')
  t.equal(loadConfig({ BALANCER_SECRET: 'a'.repeat(32) }).session.balancerSecret, 'a'.repeat(32))
  t.throws(() => loadConfig({ BALANCER_SECRET: 'short' }), /at least 32 characters/)
  t.throws(() => loadConfig({ BALANCER_SECRET: `${'a'.repeat(32)}$request_id` }), /A-Z a-z 0-9/)
})

t.test('HTTPS_ONLY: a Secure cookie with the __Host- prefix', async t => {
  t.same([loadConfig({}).session.cookieName, loadConfig({}).session.cookieSecure], ['sid', 'auto'])
  const https = loadConfig({ HTTPS_ONLY: '1' }).session
  t.same([https.cookieName, https.cookieSecure], ['__Host-sid', true])
})

t.test('every wrong value is named at once, with what it must be; a secret is never repeated', async t => {
  const error = t.throws(() => loadConfig({ PORT: 'x', LOG_FORMAT: 'xml', SESSION_MAX_AGE: '0', REDIS_SENTINELS: 'a:0' })) as Error
  t.match(error.message, 'PORT=x must be a whole number from 0 to 65535')
  t.match(error.message, 'LOG_FORMAT=xml must be json or pretty')
  t.match(error.message, 'SESSION_MAX_AGE=0 must be greater than zero')
  t.match(error.message, 'REDIS_SENTINELS=a:0 port 0 must be a whole number from 1 to 65535')
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL=loud must be fatal, error, warn, info, debug, trace or silent/)
  t.throws(() => loadConfig({ REPLICA_NAME_FROM_DNS: 'App' }), /REPLICA_NAME_FROM_DNS=App must be a compose service name/)
  const secret = `${'a'.repeat(32)}$request_id`
  const refused = t.throws(() => loadConfig({ BALANCER_SECRET: secret })) as Error
  t.notMatch(refused.message, secret)
})

t.test('an empty value counts as unset; NAME_FILE is read instead of NAME', async t => {
  const config = loadConfig({ PORT: '', SESSION_IDLE_TTL: '', REDIS_SENTINELS: '', BALANCER_SECRET: '', SESSION_COOKIE_NAME: '' })
  t.same([config.port, config.session.idleTtlMs, config.redis.sentinels, config.session.balancerSecret, config.session.cookieName],
    [3000, 30 * 60_000, [], undefined, 'sid'])
  const dir = t.testdir({ secret: `${SECRET}\n`, password: 'from-file\n' })
  const fromFiles = loadConfig({ SESSION_SECRET: 'y'.repeat(40), SESSION_SECRET_FILE: `${dir}/secret`, REDIS_PASSWORD_FILE: `${dir}/password` })
  t.same(fromFiles.session.secrets, [SECRET])
  t.equal(fromFiles.redis.password, 'from-file')
})

t.test('only the environment it is given is read', async t => {
  const before = process.env.PORT
  process.env.PORT = '4000'
  t.teardown(() => { if (before === undefined) delete process.env.PORT; else process.env.PORT = before })
  t.equal(loadConfig({}).port, 3000)
})
