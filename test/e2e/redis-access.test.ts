// Redis access as production should have it: TLS with a private CA, and an ACL user that can run only the
// commands the store needs, on its own keys. The ACL line is the one docs/security.md shows.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { freePort } from '../../harness/ports.ts'
import { pollUntil } from '../../harness/processes.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { aclRules } from '../../services/session-store/acl.ts'
import { startStack } from '../helpers/stack.ts'
import { certificateFor, makeCertificates } from '../helpers/tls.ts'
import { TEXT } from '../../services/views.ts'

const ACL_RULES = aclRules('sess:')

t.test('over TLS as a user limited to the store\'s commands and keys: everything works, nothing else does', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const certs = makeCertificates(dir)
  const password = randomBytes(24).toString('base64url')
  const tlsPort = await freePort()
  const server = await RedisServer.start({
    dir: join(dir, 'redis'),
    args: [
      '--tls-port', String(tlsPort), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
      '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no',
      // The default user (the plain port too) needs a password nobody here has.
      '--requirepass', randomBytes(24).toString('base64url'),
      '--user', 'sessions', 'on', `>${password}`, ...ACL_RULES.split(' ')
    ]
  })
  t.teardown(async () => await server.stop())

  const stack = await startStack(t, {
    redisUrl: `rediss://sessions:${password}@localhost:${tlsPort}`,
    env: { REDIS_TLS_CA_FILE: certs.ca, LOGIN_RATE_LIMIT: '20' }
  })
  const laptop = new Browser(stack.url)
  const phone = new Browser(stack.url)
  await laptop.login('tls')
  await phone.login('tls')
  for (let visit = 1; visit <= 3; visit++) t.equal(visitsOf((await laptop.get('/')).text), visit, 'visits counted')
  t.equal((await laptop.post('/preferences', { theme: 'dark' })).status, 302)
  t.match((await laptop.get('/sessions')).text, /^Sessions of tls: 2/, 'the user index')
  t.equal((await laptop.post('/sessions/revoke-all')).status, 302, 'log out everywhere')
  const ready = await Promise.all(stack.replicas.map(async r => (await fetch(`${r.url}/health/ready`)).status))
  t.same(ready, stack.replicas.map(() => 200), 'ready: this user may read the eviction policy (INFO memory)')
  t.equal((await phone.get('/')).text, `${TEXT.notLoggedIn}\n`)

  const restricted = new Redis({ host: 'localhost', port: tlsPort, username: 'sessions', password, tls: { ca: readFileSync(certs.ca) }, lazyConnect: true })
  t.teardown(() => restricted.disconnect())
  await restricted.connect()
  await t.rejects(restricted.get('other:key'), /NOPERM/, 'no key outside sess:')
  await t.rejects(restricted.keys('*'), /NOPERM/, 'no KEYS')
  await t.rejects(restricted.flushall(), /NOPERM/, 'no FLUSHALL')
  await t.rejects(restricted.config('GET', '*'), /NOPERM/, 'no CONFIG')
  await t.rejects(restricted.eval("return redis.call('APPEND', 'sess:x', 1)", 0), /NOPERM|can't run this command/, 'not even from a script')

  // A replica that does not trust the server's certificate never talks to it.
  const replica = stack.replicas[0]!
  await replica.restart({ REDIS_TLS_CA_FILE: certs.otherCa })
  t.equal((await fetch(`${replica.url}/health/ready`)).status, 503, 'another CA: not ready')
  const plain = new Redis({ host: '127.0.0.1', port: tlsPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  plain.on('error', () => {}) // the resets are the point; the assertion below reads them from connect()
  t.teardown(() => plain.disconnect())
  await t.rejects(pollUntil('a plain connection to the TLS port', async () => await plain.connect().then(async () => await plain.ping()), 2000), 'plain TCP to the TLS port gets nowhere')
})

t.test('a Redis that asks for client certificates (tls-auth-clients yes): served with one, refused without', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-mtls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const certs = makeCertificates(dir)
  const client = certificateFor(dir, 'sessions-replica')
  const tlsPort = await freePort()
  const server = await RedisServer.start({
    dir: join(dir, 'redis'),
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
      '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'yes']
  })
  t.teardown(async () => await server.stop())

  const stack = await startStack(t, {
    redisUrl: `rediss://localhost:${tlsPort}`,
    env: { REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_CERT_FILE: client.cert, REDIS_TLS_KEY_FILE: client.key }
  })
  const user = new Browser(stack.url)
  await user.login('mtls')
  for (let visit = 1; visit <= 3; visit++) t.equal(visitsOf((await user.get('/')).text), visit, 'with the CA\'s client certificate: visits counted')

  // The same replica without its certificate: the server ends every handshake, so it is never ready.
  const replica = stack.replicas[0]!
  await replica.restart({ REDIS_TLS_CERT_FILE: '', REDIS_TLS_KEY_FILE: '' })
  t.equal((await fetch(`${replica.url}/health/ready`)).status, 503, 'no client certificate: not ready')
  t.equal((await user.at(replica.url).get('/')).status, 503, 'and a visit to it is a clear 503')
})
