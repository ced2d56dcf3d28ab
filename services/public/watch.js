// The watch page: visits / with the session every few hundred milliseconds, asking for JSON, and shows which
// replica answered each request. One visit at a time (the next starts once the last has answered), so the page
// never piles requests onto a replica that is slow. No framework, no build step: the browser runs this file as is.

const STRIP_LENGTH = 60
const SILENT_AFTER_MS = 5000
const REQUEST_TIMEOUT_MS = 6000
const FAILURE_LOG_LENGTH = 20
const COLOURS = 8

const root = document.getElementById('watch')
const interval = Number(root.dataset.interval) || 400
const $ = id => document.getElementById(id)

const entries = [] // the last STRIP_LENGTH requests, oldest first
const replicas = new Map() // name → { label, colour, answers, lastAt }
let requests = 0
let failures = 0
let running = true
let inFlight = false
let timer
let pausedAt = 0
let loggedOut = false

/** "replica-2" → "2"; a container id → its first three characters: short enough for the strip. */
function shortLabel (name) {
  const number = /-(\d+)$/.exec(name)
  return number ? number[1] : name.slice(0, 3)
}

function replicaFor (name) {
  let replica = replicas.get(name)
  if (!replica) {
    // replica-N keeps its colour from one page load to the next; other names take them in turn.
    const number = /-(\d+)$/.exec(name)
    const colour = number ? (Number(number[1]) - 1) % COLOURS : replicas.size % COLOURS
    replica = { label: shortLabel(name), colour, answers: 0, lastAt: 0 }
    replicas.set(name, replica)
  }
  return replica
}

function formatMs (ms) {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/** What a failed request was, in words. */
function describe (entry) {
  if (entry.status === 0) return entry.timedOut ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : 'network error'
  const from = entry.servedBy ? ` from ${entry.servedBy}` : ''
  return `${entry.status}${from}${entry.message ? `: ${entry.message}` : ''}`
}

async function visit () {
  inFlight = true
  const n = ++requests
  const started = performance.now()
  let entry
  try {
    // The same request a script would send: the replica answers JSON, and the visit costs what any visit costs.
    const res = await fetch('/', {
      headers: { accept: 'application/json' },
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    })
    const body = await res.json().catch(() => null)
    entry = {
      n,
      status: res.status,
      ok: res.ok,
      ms: performance.now() - started,
      servedBy: res.headers.get('x-served-by') ?? body?.servedBy ?? null,
      visits: typeof body?.visits === 'number' ? body.visits : null,
      code: body?.code ?? null,
      message: body?.message ?? null
    }
  } catch (err) {
    entry = { n, status: 0, ok: false, ms: performance.now() - started, servedBy: null, timedOut: err?.name === 'TimeoutError' }
  }
  entry.at = Date.now()
  inFlight = false
  record(entry)
  render()
  if (entry.status === 401) return stop()
  if (running) timer = setTimeout(visit, interval)
}

function record (entry) {
  entries.push(entry)
  if (entries.length > STRIP_LENGTH) entries.shift()
  // nginx answers by itself only when no replica could: that is no replica answering.
  if (entry.servedBy && entry.servedBy !== 'nginx') {
    const replica = replicaFor(entry.servedBy)
    replica.answers++
    replica.lastAt = entry.at
  }
  if (!entry.ok) {
    failures++
    logFailure(entry)
  }
}

function logFailure (entry) {
  const log = $('failure-log')
  log.querySelector('.none')?.remove()
  const item = document.createElement('li')
  const time = new Date(entry.at).toLocaleTimeString()
  item.textContent = `✕ ${time}, request ${entry.n}: ${describe(entry)}`
  log.prepend(item)
  while (log.children.length > FAILURE_LOG_LENGTH) log.lastElementChild.remove()
}

/** Replicas seen before that have not answered for SILENT_AFTER_MS, with how long. */
function silentReplicas (now) {
  return [...replicas].filter(([, r]) => now - r.lastAt >= SILENT_AFTER_MS).map(([name, r]) => [name, now - r.lastAt])
}

/** The one line of plain words: how things stand, and whether that is bad. */
function summary (now) {
  if (loggedOut) return { bad: true, text: 'You are not logged in any more (the session ended): log in again to go on watching.' }
  if (!running) return { bad: false, text: 'Paused. Press Resume to go on.' }
  const last = entries.at(-1)
  if (!last) return { bad: false, text: 'Starting…' }
  const silent = silentReplicas(now)
  const parts = []
  if (last.status === 503) parts.push('The session store is unavailable, retrying')
  else if (last.status === 0) parts.push(`No answer from the site (${describe(last)}), retrying`)
  else if (!last.ok) parts.push(`The last request failed with ${describe(last)}, retrying`)
  else {
    const answering = replicas.size - silent.length
    parts.push(`${answering} ${answering === 1 ? 'replica' : 'replicas'} answering`)
  }
  for (const [name, ms] of silent) parts.push(`${name} has not answered for ${Math.floor(ms / 1000)} s`)
  return { bad: !last.ok || silent.length > 0, text: `${parts.join('. ')}.` }
}

function render () {
  const now = Date.now()
  const { bad, text } = summary(now)
  const status = $('status')
  status.textContent = bad ? `⚠ ${text}` : text
  status.classList.toggle('bad', bad)
  if (loggedOut) {
    const link = document.createElement('a')
    link.href = '/login'
    link.textContent = 'Log in'
    status.append(' ', link)
  }

  const last = entries.at(-1)
  const lastVisits = entries.findLast(e => e.visits !== null && e.visits !== undefined)
  $('visits').textContent = lastVisits ? String(lastVisits.visits) : '–'
  const times = entries.filter(e => e.status !== 0).map(e => e.ms).sort((a, b) => a - b)
  if (last && times.length > 0) {
    const median = document.createElement('small')
    median.textContent = `median ${formatMs(times[Math.floor(times.length / 2)])}`
    $('latency').replaceChildren(formatMs(last.ms), median)
  }
  $('requests').textContent = String(requests)
  $('failures').textContent = String(failures)
  $('failures').parentElement.classList.toggle('bad', failures > 0)

  const rows = [...replicas].map(([name, r]) => {
    const row = document.createElement('tr')
    const silentFor = now - r.lastAt
    const silent = running && silentFor >= SILENT_AFTER_MS
    row.className = silent ? 'silent' : ''
    row.dataset.replica = name
    const cell = (content) => { const td = document.createElement('td'); td.append(content); row.append(td) }
    const label = document.createElement('span')
    label.className = `swatch c${r.colour}`
    label.textContent = r.label
    const nameCell = document.createElement('span')
    nameCell.append(label, ` ${name}`)
    cell(nameCell)
    cell(String(r.answers))
    cell(silent ? `⚠ no answer for ${Math.floor(silentFor / 1000)} s` : silentFor < 1500 ? 'just now' : `${Math.floor(silentFor / 1000)} s ago`)
    return row
  })
  $('tally').replaceChildren(...rows)

  $('strip').replaceChildren(...entries.map(entry => {
    const item = document.createElement('li')
    const replica = entry.servedBy && entry.servedBy !== 'nginx' ? replicas.get(entry.servedBy) : undefined
    item.dataset.status = String(entry.status)
    if (entry.servedBy) item.dataset.replica = entry.servedBy
    if (entry.visits !== null && entry.visits !== undefined) item.dataset.visits = String(entry.visits)
    if (entry.ok) {
      item.className = `hit c${replica?.colour ?? 0}`
      item.textContent = replica?.label ?? '?'
      item.title = `request ${entry.n}: ${entry.servedBy}, ${entry.status}, ${formatMs(entry.ms)}, visit ${entry.visits}`
    } else {
      // A failure is a cross and its status, not only a colour.
      item.className = 'hit fail'
      item.textContent = `✕${entry.status || ''}`
      item.title = `request ${entry.n} failed: ${describe(entry)}, ${formatMs(entry.ms)}`
    }
    return item
  }))
}

function stop () {
  running = false
  loggedOut = true
  clearTimeout(timer)
  $('toggle').disabled = true
  render()
}

function toggle () {
  const button = $('toggle')
  running = !running
  button.textContent = running ? 'Pause' : 'Resume'
  button.setAttribute('aria-pressed', String(!running))
  if (running) {
    // A pause is no replica's silence: their clocks resume where they stopped.
    const paused = Date.now() - pausedAt
    for (const replica of replicas.values()) replica.lastAt += paused
    if (!inFlight) visit()
  } else {
    pausedAt = Date.now()
    clearTimeout(timer)
  }
  render()
}

root.hidden = false
$('toggle').addEventListener('click', toggle)
// A replica's silence shows even while a request hangs.
setInterval(() => { if (running) render() }, 1000)
visit()
