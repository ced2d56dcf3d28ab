// The cross-site check on every state-changing route, and the security headers on every answer.
import t from 'tap'
import { buildTestApp, startRedis, User } from './helper.ts'
import { TEXT } from '../../services/views.ts'

const POSTS = ['/login', '/logout', '/preferences', '/sessions/revoke-all', '/sessions/AAAAAAAAAAAAAAAA/revoke']

t.test('security', async t => {
  const server = await startRedis(t)
  const { app, redis } = await buildTestApp(t, server)

  t.test('every POST route refuses another site, whoever the user is', async t => {
    const user = new User(app)
    await user.login('victim')
    const before = await redis.dbsize()
    for (const url of POSTS) {
      for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }] as Array<Record<string, string>>) {
        const res = await user.post(url, { username: 'attacker', theme: 'dark' }, headers)
        t.equal(res.statusCode, 403, `${url} with ${JSON.stringify(headers)}`)
        t.equal(res.body, 'Cross-site request refused\n')
      }
    }
    t.equal(await redis.dbsize(), before, 'nothing written')
    t.equal((await user.get('/whoami')).body, `${TEXT.loggedInAs('victim')}\n`, 'the victim is still logged in')
    const same = await user.post('/preferences', { theme: 'dark' }, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80' })
    t.equal(same.statusCode, 302, 'the site itself may')
    const byOrigin = await user.post('/preferences', { theme: 'light' }, { origin: 'http://localhost:80', host: 'localhost:80' })
    t.equal(byOrigin.statusCode, 302, 'an older browser sending only a matching Origin may')
  })

  t.test('security headers on every kind of answer', async t => {
    for (const [method, url] of [['GET', '/'], ['GET', '/nowhere'], ['GET', '/health/live'], ['POST', '/login']] as const) {
      const res = await app.inject({ method, url })
      t.match(res.headers['content-security-policy'], /default-src 'none'/, `${method} ${url}: CSP`)
      t.equal(res.headers['x-content-type-options'], 'nosniff', `${method} ${url}: nosniff`)
      t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/, `${method} ${url}: no framing`)
      t.ok(res.headers['referrer-policy'], `${method} ${url}: referrer policy`)
    }
  })

  t.test('an invalid sid cookie placed before the valid one does not log the user out', async t => {
    const user = new User(app)
    await user.login('double')
    const valid = user.cookies.get('sid')!
    const [id] = decodeURIComponent(valid).split('.')
    // What a sibling subdomain, another path, or a stale copy can put first in the Cookie header.
    for (const first of ['junk', `${id}.forgedsignature`, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x']) {
      const res = await user.get('/', { cookie: `sid=${first}; theme=x; sid=${valid}` })
      t.equal(res.body, `Logged in as double. Visits: ${res.body.match(/\d+/)?.[0]}\n`, `${first} first: still logged in`)
      t.match(res.body, /Visits: [1-9]/)
      t.same(res.headers['set-cookie'] ?? [], [], 'and the valid cookie is not cleared')
    }
    t.equal((await user.get('/whoami')).body, `${TEXT.loggedInAs('double')}\n`, 'the session went on')
  })
})
