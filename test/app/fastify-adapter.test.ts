// What services/session-store/fastify-adapter.ts assumes of @fastify/session. Each test fails if an upgrade
// breaks one assumption: the visit counted in the load's round trip, delta writes (and neither a save nor a cookie
// for an unchanged session, which the adapter tells without @fastify/session's hash), the re-signing of cookies
// signed with an older secret, `cookie` as the Session's only field besides the user's own, and a login that
// deletes the old session only when there is one.
import type { Redis } from 'ioredis'
import t from 'tap'
import { keyPatterns, sessionKey } from '../../services/session-store/keys.ts'
import { TEXT } from '../../services/views.ts'
import { buildTestApp, SECRET, startRedis, User } from './helper.ts'

/** How many times Redis ran each command since the last call (INFO commandstats), scripts' inner calls included. */
function commandCounter (redis: Redis): () => Promise<Record<string, number>> {
  let last: Record<string, number> = {}
  const read = async () => {
    const now: Record<string, number> = {}
    for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) now[m[1]!] = Number(m[2])
    return now
  }
  const diff = async () => {
    const now = await read()
    const out: Record<string, number> = {}
    for (const [cmd, n] of Object.entries(now)) if (n !== (last[cmd] ?? 0) && cmd !== 'info') out[cmd] = n - (last[cmd] ?? 0)
    last = now
    return out
  }
  return diff
}

/** The arguments of every script Redis was asked to run while `fn` ran (MONITOR), the script (or its SHA) left out. */
async function scriptCalls (redis: Redis, fn: () => Promise<unknown>): Promise<string[][]> {
  const monitor = await redis.monitor()
  const calls: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => { if (/^eval(sha)?$/i.test(args[0] ?? '')) calls.push(args.slice(2)) })
  try {
    await fn()
    await redis.ping() // MONITOR lines arrive in order: once this one's reply is in, the others were sent
  } finally {
    monitor.disconnect()
  }
  return calls
}

t.test('@fastify/session assumptions', async t => {
  const server = await startRedis(t)

  t.test('get() is called synchronously from its hook: a visit is one script, counted while loading', async t => {
    const { app, redis } = await buildTestApp(t, server)
    const user = new User(app)
    await user.login('alice')
    const counted = commandCounter(redis)
    await counted()
    const res = await user.get('/')
    t.equal(res.body, `${TEXT.visits('alice', 1)}\n`)
    const used = await counted()
    // ioredis sends a script's source (EVAL) the first time on a connection, then its SHA (EVALSHA).
    t.same(Object.keys(used).filter(c => !['hgetall', 'time', 'pexpireat', 'hincrby'].includes(c)).map(c => c.replace('evalsha', 'eval')), ['eval'],
      'one client command: the load script (it reads, slides the expiry and counts inside)')
    t.equal((used.eval ?? 0) + (used.evalsha ?? 0), 1)
    t.equal(used.hincrby, 1, 'the visit was counted by the load itself')
  })

  t.test('a session read from Redis is written back as its difference only (hooks in order: load, track, route, save)', async t => {
    const { app, redis } = await buildTestApp(t, server)
    const user = new User(app)
    await user.login('bob')
    const calls = await scriptCalls(redis, async () => await user.post('/preferences', { theme: 'dark' }))
    const patch = calls.find(args => args.includes('theme'))
    t.ok(patch, 'a script wrote the new field')
    t.notOk(patch?.includes('user'), 'and nothing else: the user field was not rewritten')
    t.equal((await user.get('/preferences')).body, 'theme=dark language=en\n')
    let answer: Awaited<ReturnType<typeof user.get>> | undefined
    const unchanged = await scriptCalls(redis, async () => { answer = await user.get('/whoami') })
    t.equal(unchanged.length, 1, 'an unchanged session is read, never written')
    t.equal(answer?.headers['set-cookie'], undefined, 'and its answer sets no cookie (the adapter, not a hash, tells it unchanged)')
    const counted = await scriptCalls(redis, async () => { answer = await user.get('/') })
    t.equal(counted.length, 1, 'a counted visit: the load script only, the count not written again')
    t.equal(answer?.headers['set-cookie'], undefined)
    const changedTwice = await scriptCalls(redis, async () => await user.post('/preferences', { theme: 'light', language: 'de' }))
    t.ok(changedTwice.some(args => args.includes('theme') && args.includes('language')), 'a change after an unchanged visit is still written')
    t.equal((await user.get('/preferences')).body, 'theme=light language=de\n')
  })

  t.test('only the user\'s fields reach Redis: `cookie` is the Session\'s only other field', async t => {
    const { app, redis } = await buildTestApp(t, server)
    const user = new User(app)
    await user.login('carol')
    const [key] = await redis.keys(keyPatterns('sess:').sessions)
    t.same(Object.keys(await redis.hgetall(key!)).sort(), ['@c', '@x', 'ua', 'user', 'via'],
      'created, deadline, and the fields the login set: no `cookie`, nothing of @fastify/session\'s')
  })

  t.test('a cookie signed with an older secret is re-signed with the current one, not cleared', async t => {
    const OLD = `old-${SECRET}`
    const before = await buildTestApp(t, server, { SESSION_SECRET: OLD })
    const after = await buildTestApp(t, server, { SESSION_SECRET: `${SECRET},${OLD}` }) // empties Redis: build both first
    const user = new User(before.app)
    await user.login('dave')
    const oldCookie = user.cookies.get('sid')!
    const afterUser = new User(after.app)
    afterUser.cookies.set('sid', oldCookie)
    const res = await afterUser.get('/')
    t.equal(res.body, `${TEXT.visits('dave', 1)}\n`, 'still logged in after the rotation')
    const renewed = afterUser.cookies.get('sid')
    t.ok(renewed && renewed !== oldCookie, 'the answer carries the cookie signed with the new secret')
    t.equal(renewed?.split('.')[0], oldCookie.split('.')[0], 'for the same session')
    t.equal((await afterUser.get('/')).body, `${TEXT.visits('dave', 2)}\n`, 'and the new cookie works')
  })

  t.test('regenerate() deletes the old id synchronously: a first login sends no delete, a second deletes the first session', async t => {
    const { app, redis } = await buildTestApp(t, server)
    const user = new User(app)
    const first = await scriptCalls(redis, async () => await user.login('erin'))
    t.equal(first.length, 2, 'a first login (no cookie): the index entry and the session, nothing deleted')
    const firstId = decodeURIComponent(user.cookies.get('sid')!).split('.')[0]!
    const again = await scriptCalls(redis, async () => await user.login('frank'))
    t.equal(again.length, 4, 'a login over a session: it is read, then deleted, then the new index entry and session')
    t.equal(again.filter(args => args.includes(sessionKey('sess:', firstId))).length, 2, 'the read and the delete name the old session')
    t.equal(await redis.exists(sessionKey('sess:', firstId)), 0, 'which is gone')
    t.equal((await user.get('/')).body, `${TEXT.visits('frank', 1)}\n`)
  })
})
