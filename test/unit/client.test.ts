// The test and benchmark client's cookie jar, against a tiny local HTTP server: what it keeps, replaces, drops and
// sends back; and reading the visit count from a page.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { TEXT } from '../../services/views.ts'

/** Answers each request with the Set-Cookie headers queued for it, and records the Cookie header it got. */
async function cookieServer (t: Test) {
  const received: Array<string | undefined> = []
  const queue: string[][] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    received.push(req.headers.cookie)
    res.setHeader('set-cookie', queue.shift() ?? [])
    res.setHeader('x-served-by', 'test')
    res.end('ok')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, queue }
}

t.test('stores, replaces and sends cookies; drops expired and emptied ones', async t => {
  const { url, received, queue } = await cookieServer(t)
  const browser = new Browser(url)
  queue.push(['sid=one; Path=/; HttpOnly; SameSite=Lax', 'theme=dark'])
  const res = await browser.get('/')
  t.equal(res.servedBy, 'test')
  t.same([...browser.cookies], [['sid', 'one'], ['theme', 'dark']])

  queue.push(['sid=two; Path=/'])
  await browser.get('/')
  t.equal(received[1], 'sid=one; theme=dark', 'sends what it has')
  t.equal(browser.cookies.get('sid'), 'two', 'a new value replaces the old')

  queue.push(['theme=; Max-Age=0', `sid=x; Expires=${new Date(Date.now() - 60_000).toUTCString()}`])
  await browser.get('/')
  t.equal(browser.cookies.size, 0, 'Max-Age=0 and a past Expires delete the cookie')
  queue.push(['a=1', 'a=; Path=/'])
  await browser.get('/')
  t.notOk(browser.cookies.has('a'), 'an empty value deletes it')

  queue.push([`later=1; Expires=${new Date(Date.now() + 60_000).toUTCString()}`])
  await browser.get('/')
  t.equal(browser.cookies.get('later'), '1', 'a future Expires keeps it')
})

t.test('the same jar at another address; an explicit Cookie header wins', async t => {
  const { url, received, queue } = await cookieServer(t)
  const browser = new Browser('http://127.0.0.1:1')
  browser.cookies.set('sid', 'abc')
  const there = browser.at(url)
  queue.push(['seen=1'])
  await there.get('/')
  t.equal(received[0], 'sid=abc')
  t.equal(browser.cookies.get('seen'), '1', 'one jar shared by both')
  await there.get('/', { headers: { cookie: 'sid=forged' } })
  t.equal(received[1], 'sid=forged')
})

t.test('visitsOf reads the count from the page, null when not logged in', async t => {
  t.equal(visitsOf(`${TEXT.visits('alice', 12)}\n`), 12)
  t.equal(visitsOf(`${TEXT.notLoggedIn}\n`), null)
})
