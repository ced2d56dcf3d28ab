// The site in a real browser (Debian's Chromium, driven by playwright-core) against the real local stack: log in
// through the form, watch requests hop, kill a replica, stop Redis, and see what a person would see. Screenshots
// go to .run/screenshots/.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { findBinary } from '../../harness/binaries.ts'
import { RUN_DIR } from '../../harness/paths.ts'
import { pollUntil } from '../../harness/processes.ts'
import { startStack } from '../helpers/stack.ts'
import { TEXT } from '../../services/views.ts'

// Headless, and no background connections of Chromium's own: this network refuses them.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync']
const SCREENSHOTS = join(RUN_DIR, 'screenshots')
const DESKTOP = { width: 1000, height: 900 }
const PHONE = { width: 390, height: 844 }

/** Debian's Chromium (/usr/bin/chromium; installed with apt-get when missing, never downloaded), with a fresh profile removed when the test ends. */
async function launch (t: Test): Promise<BrowserContext> {
  const executablePath = findBinary('chromium')
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'))
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: DESKTOP })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

async function screenshot (t: Test, page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  t.comment(`screenshot: ${path}`)
}

/** What the watch page shows, read from its DOM. */
interface WatchState {
  status: string
  requests: number
  failures: number
  tally: Array<{ name: string, answers: number, silent: boolean }>
  strip: Array<{ status: number, replica: string | null, visits: number | null, failed: boolean }>
}

// The functions passed to evaluate() run in the page; this project compiles without the DOM's types, so what
// they touch is untyped there.
async function watchState (page: Page): Promise<WatchState> {
  return await page.locator('#watch').evaluate(root => {
    const text = (id: string): string => root.querySelector(`#${id}`).textContent
    return {
      status: text('status'),
      requests: Number(text('requests')),
      failures: Number(text('failures')),
      tally: [...root.querySelectorAll('#tally tr')].map(row => ({
        name: row.dataset.replica,
        answers: Number(row.cells[1].textContent),
        silent: row.classList.contains('silent')
      })),
      strip: [...root.querySelectorAll('#strip li')].map(item => ({
        status: Number(item.dataset.status),
        replica: item.dataset.replica ?? null,
        visits: item.dataset.visits ? Number(item.dataset.visits) : null,
        failed: item.classList.contains('fail')
      }))
    }
  })
}

/** Polls the watch page until `check` holds, or fails with what the page showed last. */
async function waitForPage (page: Page, what: string, check: (s: WatchState) => boolean, timeoutMs: number): Promise<WatchState> {
  let last: WatchState | undefined
  try {
    return await pollUntil(what, async () => {
      last = await watchState(page)
      return check(last) ? last : undefined
    }, timeoutMs, 100)
  } catch (err) {
    throw new Error(`${(err as Error).message}; the page showed: ${JSON.stringify(last)}`)
  }
}

/** The visit counts of the answered requests, in order, go up by exactly one each. */
function consecutive (visits: number[]): boolean {
  return visits.length > 1 && visits.every((v, i) => i === 0 || v === visits[i - 1]! + 1)
}

async function noHorizontalScroll (page: Page): Promise<boolean> {
  return await page.locator('html').evaluate(html => html.scrollWidth <= html.clientWidth)
}

t.test('log in, watch the requests hop, lose a replica and Redis: the page says so, the session goes on', async t => {
  const stack = await startStack(t)
  const context = await launch(t)
  const page = context.pages()[0] ?? await context.newPage()
  // A refused inline script or style, or a blocked fetch, is a console error naming the policy.
  const policyViolations: string[] = []
  page.on('console', message => { if (/Content Security Policy/i.test(message.text())) policyViolations.push(message.text()) })
  page.on('pageerror', err => { policyViolations.push(`page error: ${err.message}`) })

  await page.goto(`${stack.url}/`)
  t.match(await page.locator('main').innerText(), new RegExp(TEXT.notLoggedIn))
  await page.getByRole('link', { name: 'Log in' }).first().click()
  await page.getByLabel('Username').pressSequentially('watcher')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL(`${stack.url}/`)
  t.match(await page.locator('main').innerText(), /Logged in as watcher\. Visits: 1/, 'logged in through the form')
  t.match(await page.locator('header').innerText(), /Served by replica-\d/, 'the replica is named at the top')
  t.match(await page.locator('body').evaluate(body => body.ownerDocument.defaultView.getComputedStyle(body).fontFamily), /system-ui/, 'the stylesheet applies')
  await screenshot(t, page, 'home')

  await page.getByRole('link', { name: 'Sessions', exact: true }).click()
  const sessions = page.locator('table.sessions')
  t.match(await sessions.innerText(), /Chrome on Linux/, '/sessions names the device in words')
  t.match(await sessions.locator('time').first().innerText(), /^(now|\d+ seconds? ago)$/, 'and the time in words')
  t.match(await sessions.locator('time').first().getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'the exact time on hover')
  await screenshot(t, page, 'sessions')

  await page.getByRole('link', { name: 'Home' }).first().click()
  const homeVisits = Number(/Visits: (\d+)/.exec(await page.locator('main').innerText())?.[1])
  await page.getByRole('link', { name: 'Watch requests hop' }).click()
  await page.waitForURL(`${stack.url}/watch`)
  const names = ['replica-1', 'replica-2', 'replica-3']
  let state = await waitForPage(page, 'all three replicas on the watch page', s => s.tally.length === 3, 5000)
  t.same(state.tally.map(r => r.name).sort(), names, 'within 5 s: the three replicas')
  state = await waitForPage(page, 'a few more visits', s => s.strip.length >= 8, 5000)
  t.equal(state.strip[0]!.visits, homeVisits + 1, `the page goes on counting the same session (the home page showed visit ${homeVisits})`)
  t.ok(consecutive(state.strip.map(e => e.visits!)), `one more visit per request: ${state.strip.map(e => e.visits).join(' ')}`)
  t.equal(state.failures, 0, 'no failure')
  t.equal(state.strip.filter(e => e.failed).length, 0, 'no failure mark')
  t.equal(state.status, '3 replicas answering.')
  await screenshot(t, page, 'watch')

  // A replica crashes: nginx retries its requests on another, so nothing fails, and the page says it went quiet.
  await stack.replica('replica-2').kill()
  state = await waitForPage(page, 'the page to say replica-2 stopped answering', s => /replica-2 has not answered for \d+ s/.test(s.status), 10_000)
  t.match(state.status, /^⚠ 2 replicas answering\. replica-2 has not answered for [5-9] s\.$/, `it says so: "${state.status}"`)
  t.ok(state.tally.find(r => r.name === 'replica-2')!.silent, 'its row in the tally is marked')
  t.equal(state.failures, 0, 'no request failed: nginx retried on another replica')
  t.ok(consecutive(state.strip.map(e => e.visits!)), 'and the count went on by one')
  await screenshot(t, page, 'watch-replica-down')

  const answersBefore = state.tally.find(r => r.name === 'replica-2')!.answers
  await stack.replica('replica-2').restart()
  state = await waitForPage(page, 'replica-2 to be back in the tally', s =>
    s.status === '3 replicas answering.' && s.tally.find(r => r.name === 'replica-2')!.answers > answersBefore, 20_000)
  t.pass('replica-2 is back in the tally, and the page says 3 replicas answer')
  t.equal(state.failures, 0, 'still no failure')

  // Redis goes away: every visit fails with a 503, and the page says why; when it is back, the count goes on.
  const lastVisit = (await watchState(page)).strip.at(-1)!.visits!
  await stack.redis!.stop()
  const stoppedAt = Date.now()
  state = await waitForPage(page, 'the store-unavailable state', s => s.status.includes('The session store is unavailable, retrying'), 2000)
  t.pass(`the page says the session store is unavailable ${Date.now() - stoppedAt} ms after Redis stopped`)
  t.ok(state.strip.some(e => e.failed && e.status === 503), 'the failed requests are marked, with their status')
  t.ok(state.failures > 0, `failures counted: ${state.failures}`)
  await screenshot(t, page, 'watch-redis-down')

  await stack.redis!.restart()
  state = await waitForPage(page, 'visits to succeed again', s => s.strip.at(-1)!.status === 200 && s.strip.at(-1)!.visits! > lastVisit, 15_000)
  const answered = state.strip.filter(e => !e.failed).map(e => e.visits!)
  t.ok(consecutive(answered), `the same session, the count where it was: ${answered.join(' ')}`)
  t.ok(answered.includes(lastVisit) && answered.includes(lastVisit + 1), `${lastVisit} before Redis stopped, ${lastVisit + 1} after`)
  await waitForPage(page, 'the all-clear', s => s.status === '3 replicas answering.', 5000)
  await screenshot(t, page, 'watch-recovered')

  // Pause: no more requests until Resume.
  await page.getByRole('button', { name: 'Pause' }).click()
  const paused = await waitForPage(page, 'the paused state', s => s.status.startsWith('Paused'), 2000)
  await page.waitForTimeout(1500) // an absence: nothing to wait for but time (almost 4 intervals)
  t.equal((await watchState(page)).requests, paused.requests, 'paused: no request')
  await page.getByRole('button', { name: 'Resume' }).click()
  await waitForPage(page, 'requests again after Resume', s => s.requests > paused.requests + 1, 3000)
  t.pass('resumed')

  // At phone width: nothing wider than the screen.
  await page.setViewportSize(PHONE)
  for (const [path, name] of [['/watch', 'phone-watch'], ['/', 'phone-home'], ['/sessions', 'phone-sessions']] as const) {
    await page.goto(`${stack.url}${path}`)
    if (path === '/watch') await waitForPage(page, 'the tally at phone width', s => s.tally.length === 3, 5000)
    t.ok(await noHorizontalScroll(page), `${path}: fits a ${PHONE.width} px wide phone`)
    await screenshot(t, page, name)
  }

  // The dark theme, chosen on /preferences, changes how every page looks.
  await page.setViewportSize(DESKTOP)
  const background = async () => await page.locator('html').evaluate(html => html.ownerDocument.defaultView.getComputedStyle(html).backgroundColor)
  const light = await background()
  await page.getByRole('link', { name: 'Preferences' }).first().click()
  await page.getByLabel('Theme').selectOption('dark')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.waitForURL(`${stack.url}/preferences`)
  for (const path of ['/preferences', '/sessions', '/']) {
    if (path !== '/preferences') await page.goto(`${stack.url}${path}`)
    t.not(await background(), light, `${path}: the dark theme shows (background ${await background()}, was ${light})`)
  }
  await screenshot(t, page, 'home-dark')
  t.same(policyViolations, [], 'nothing refused by the Content-Security-Policy, no script error')
})
