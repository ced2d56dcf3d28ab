// HTTPS end to end through nginx, and a trusted proxy in front of it (issue 16, item 4): what a user notices (a
// Secure cookie, the site's own Origin accepted, HSTS) and what the login rate limit counts (each real client).
// Distinct clients are distinct source addresses on loopback, so nginx sees them as it would on a network.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import t from 'tap'
import { Browser, type Response, visitsOf } from '../../harness/client.ts'
import { RedisServer } from '../../harness/redis-server.ts'
import { scaled } from '../../harness/timeouts.ts'
import { startStack } from '../helpers/stack.ts'
import { npmStart } from '../helpers/npm-start.ts'
import { fetchVia, makeCertificates } from '../helpers/tls.ts'

const LIMIT = 3
const PROXY = '127.0.0.9'
const isSecure = (res: Response) => res.headers.getSetCookie().some(cookie => /;\s*Secure\s*(;|$)/i.test(cookie))
const hsts = (res: Response) => res.headers.get('strict-transport-security')

t.test('one stack serving HTTPS, with a proxy at 127.0.0.9 trusted', async t => {
  const stack = await startStack(t, { tls: 'self-signed', trustedProxies: [`${PROXY}/32`], env: { LOGIN_RATE_LIMIT: String(LIMIT) } })
  const ca = stack.tls!.cert
  /** A client at `address` speaking HTTPS to nginx, trusting the stack's self-signed certificate. */
  const httpsClient = (address: string, headers: Record<string, string> = {}) =>
    new Browser(stack.httpsUrl, headers, new Map(), fetchVia(t, { ca, localAddress: address }))
  /** `count` logins; the statuses nginx answered. */
  const logins = async (browser: (i: number) => Browser, count: number) => {
    const statuses: number[] = []
    for (let i = 0; i < count; i++) statuses.push((await browser(i).post('/login', { username: `u${i}` })).status)
    return statuses
  }
  const allowedThenLimited = [...Array(LIMIT).fill(302), 429]

  t.test('over HTTPS: a Secure cookie, the session, the site\'s own Origin, HSTS', async t => {
    const user = httpsClient('127.0.0.1')
    const login = await user.login('alice')
    t.ok(isSecure(login), `the session cookie is Secure: ${login.headers.getSetCookie().join(' | ')}`)
    t.equal(visitsOf((await user.get('/')).text), 1, 'the session works over HTTPS')
    t.equal(visitsOf((await user.get('/')).text), 2)

    // An older browser: Origin on a POST, no Sec-Fetch-Site. The origin is the HTTPS one the page came from.
    const ownOrigin = await httpsClient('127.0.0.1').post('/login', { username: 'bob' }, { headers: { origin: stack.httpsUrl } })
    t.equal(ownOrigin.status, 302, `Origin ${stack.httpsUrl} is this site`)
    t.ok(isSecure(ownOrigin))
    const foreign = await httpsClient('127.0.0.1').post('/login', { username: 'x' }, { headers: { origin: 'https://evil.example' } })
    t.equal(foreign.status, 403, 'another site\'s Origin is refused')
    const httpOrigin = await httpsClient('127.0.0.1').post('/login', { username: 'x' }, { headers: { origin: stack.httpsUrl.replace('https:', 'http:') } })
    t.equal(httpOrigin.status, 403, 'so is the same host over plain HTTP: another origin')

    t.match(hsts(await user.get('/login')), /max-age=\d+/, 'HSTS over HTTPS')
    t.equal(hsts(await new Browser(stack.url).get('/login')), null, 'and not over plain HTTP')
  })

  t.test('TLS 1.2 and 1.3 only, forward-secret AEAD suites, sessions resumed from nginx\'s cache without tickets', async t => {
    const { port } = new URL(stack.httpsUrl)
    const handshake = async (options: ConnectionOptions) => await new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca: readFileSync(ca), ...options }, () => resolve(socket))
      socket.once('error', reject)
      t.teardown(() => { socket.destroy() })
    })
    t.equal((await handshake({})).getProtocol(), 'TLSv1.3', 'a current client gets TLS 1.3')
    const tls12 = await handshake({ maxVersion: 'TLSv1.2' })
    t.match(tls12.getCipher(), { name: /^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/ }, 'TLS 1.2: ECDHE and an AEAD cipher')
    t.equal(tls12.getTLSTicket(), undefined, 'no session ticket')
    const resumed = await handshake({ maxVersion: 'TLSv1.2', session: tls12.getSession() })
    t.ok(resumed.isSessionReused(), 'the session is resumed from nginx\'s cache')
    // The client is let offer what nginx must refuse (OpenSSL's own floor would refuse it first otherwise).
    await t.rejects(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), 'TLS 1.1 refused')
    await t.rejects(handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256' }), 'no CBC suite, no suite without forward secrecy')
  })

  t.test('over HTTPS each client address has its own login rate limit', async t => {
    t.same(await logins(() => httpsClient('127.0.0.2'), LIMIT + 1), allowedThenLimited, '127.0.0.2: its logins, then 429')
    t.same(await logins(() => httpsClient('127.0.0.3'), LIMIT + 1), allowedThenLimited, '127.0.0.3: its own, untouched by the other')
  })

  t.test('a trusted proxy in front says the scheme and the client, and each client is counted apart', async t => {
    const proxied = (client: string) => new Browser(stack.url, { 'x-forwarded-proto': 'https', 'x-forwarded-for': client },
      new Map(), fetchVia(t, { localAddress: PROXY }))
    const user = proxied('198.51.100.1')
    const login = await user.login('carol')
    t.ok(isSecure(login), 'HTTPS at the proxy: the cookie is Secure although nginx got plain HTTP')
    t.equal(visitsOf((await user.get('/')).text), 1, 'the session works through the proxy')
    t.match(hsts(await user.get('/login')), /max-age=\d+/, 'HSTS, the user\'s request being HTTPS')
    // The proxy passes the Host on; the browser's Origin is that host with https.
    const ownOrigin = await proxied('198.51.100.1').post('/login', { username: 'dave' }, { headers: { origin: stack.url.replace('http:', 'https:') } })
    t.equal(ownOrigin.status, 302, 'an older browser\'s Origin (https) is this site')

    t.same(await logins(() => proxied('198.51.100.1'), LIMIT - 1), [...Array(LIMIT - 2).fill(302), 429],
      '198.51.100.1: what is left of its limit, then 429')
    t.same(await logins(() => proxied('198.51.100.2'), LIMIT + 1), allowedThenLimited, '198.51.100.2 behind the same proxy: a limit of its own')
    // What the client put in X-Forwarded-For before the proxy appended its address is not believed.
    const forged = await proxied('203.0.113.7, 198.51.100.2').post('/login', { username: 'forged' })
    t.equal(forged.status, 429, 'a client-forged address before the proxy\'s entry buys no new limit')
  })

  t.test('the same headers from an address that is not a trusted proxy change nothing', async t => {
    const spoofing = (address: string, client: string) => new Browser(stack.url, { 'x-forwarded-proto': 'https', 'x-forwarded-for': client },
      new Map(), fetchVia(t, { localAddress: address }))
    const login = await spoofing('127.0.0.5', '198.51.100.20').post('/login', { username: 'eve' })
    t.equal(login.status, 302)
    t.notOk(isSecure(login), 'plain HTTP it is: no Secure cookie')
    t.equal(hsts(await spoofing('127.0.0.5', '198.51.100.20').get('/login')), null, 'no HSTS')
    const origin = await spoofing('127.0.0.5', '198.51.100.20').post('/login', { username: 'eve' }, { headers: { origin: stack.url.replace('http:', 'https:') } })
    t.equal(origin.status, 403, 'an https Origin does not match the plain-HTTP request')
    t.same(await logins(i => spoofing('127.0.0.6', `198.51.100.${30 + i}`), LIMIT + 1), allowedThenLimited,
      'each login claims another client: one bucket all the same, 127.0.0.6\'s')
  })
})

t.test('HTTP can redirect to HTTPS; nginx\'s own health and a trusted proxy\'s HTTPS requests are not redirected', async t => {
  const stack = await startStack(t, { replicas: 1, tls: 'self-signed', redirectHttp: true, trustedProxies: [PROXY] })
  const redirected = await new Browser(stack.url).get('/sessions?x=1')
  t.equal(redirected.status, 308, 'plain HTTP: 308, the method and body kept')
  t.equal(redirected.headers.get('location'), `${stack.httpsUrl}/sessions?x=1`)
  t.equal((await fetch(`${stack.url}/lb/health`)).status, 200, 'the balancer\'s health still answers on HTTP')
  const https = new Browser(stack.httpsUrl, {}, new Map(), fetchVia(t, { ca: stack.tls!.cert }))
  t.equal((await https.get('/')).status, 200, 'HTTPS serves')
  const viaProxy = new Browser(stack.url, { 'x-forwarded-proto': 'https' }, new Map(), fetchVia(t, { localAddress: PROXY }))
  t.equal((await viaProxy.get('/')).status, 200, 'HTTPS at a trusted proxy: served, no redirect loop')
})

t.test('npm start serves HTTPS with the user\'s own certificate, prints its URL, and trusts the proxies it is told', async t => {
  const dir = t.testdir({ certs: {}, redis: {} })
  const certs = makeCertificates(join(dir, 'certs'))
  const redis = await RedisServer.start({ dir: join(dir, 'redis'), persistence: false })
  t.teardown(async () => await redis.process.stop(scaled(5000)))
  const output = await npmStart(t, {
    REDIS_URL: redis.url,
    TLS_CERT_FILE: certs.cert,
    TLS_KEY_FILE: certs.key,
    LB_TRUSTED_PROXIES: `10.0.0.0/8, ${PROXY}/32`
  })
  const row = output.find(line => /^nginx\s.*https:\/\//.test(line))
  const url = /https:\/\/127\.0\.0\.1:\d+/.exec(row ?? '')?.[0]
  t.ok(url, `the start table has an https row: ${row}`)
  const user = new Browser(url!, {}, new Map(), fetchVia(t, { ca: certs.ca }))
  const login = await user.login('started')
  t.ok(isSecure(login), 'a Secure cookie over the printed HTTPS URL, verified against the user\'s CA')
  t.equal(visitsOf((await user.get('/')).text), 1)
  const plain = /http:\/\/127\.0\.0\.1:\d+/.exec(output.find(line => /^nginx\s.*http:\/\//.test(line)) ?? '')![0]
  const proxied = await new Browser(plain, { 'x-forwarded-proto': 'https' }, new Map(), fetchVia(t, { localAddress: PROXY })).login('proxied')
  t.ok(isSecure(proxied), 'LB_TRUSTED_PROXIES: a listed proxy\'s X-Forwarded-Proto is believed')
})
