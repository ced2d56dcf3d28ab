// A bounded load of logged-in users for the failure tests. Each user visits / in a loop and checks that its
// visit counter only ever goes up; POST users save a preference in a loop. Every answer is recorded with the
// request id nginx gave it, so a test can look up in nginx's access log which replicas a request went to.
import type { Test } from 'tap'
import { Browser, visitsOf } from '../../harness/client.ts'
import { upstreamsLogParser } from '../../harness/nginx-log.ts'
import { pollUntil } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'

export interface Outcome {
  method: 'GET' | 'POST'
  /** The user that sent it (`visitor-0`, `poster-1` …: the name it logged in with). */
  user: string
  /** When the answer came, on performance.now()'s clock. */
  at: number
  /** HTTP status, or 0 when the request itself failed (connection error). */
  status: number
  requestId: string | null
  servedBy: string | null
  ms: number
}

export interface LoadOptions {
  /** Users that visit / in a loop. */
  visitors: number
  /** Users that POST /preferences in a loop. */
  posters?: number
  /** Users that log in again and again (POST /login with their cookie: each login replaces their session). */
  loginers?: number
}

export class UserLoad {
  readonly outcomes: Outcome[] = []
  /** Visits counted that no answer showed: a visit counted by a replica that died or hung before answering. */
  extraCounts = 0
  /** Answers that said "not logged in" to a logged-in user. */
  readonly lostSessions: string[] = []
  /** Answers whose count was not above the previous one: a visit that was counted, then lost. */
  readonly countsWentBack: string[] = []
  /** The visiting users by the name they logged in with, e.g. to find where their sessions are stored. */
  readonly visitors: ReadonlyMap<string, Browser>
  readonly #posters: Browser[]
  readonly #loginers: Browser[]
  readonly #lastCount = new Map<Browser, number>()
  #running = false
  #loops: Array<Promise<void>> = []

  private constructor (visitors: Browser[], posters: Browser[], loginers: Browser[]) {
    this.visitors = new Map(visitors.map((user, i) => [`visitor-${i}`, user]))
    this.#posters = posters
    this.#loginers = loginers
  }

  /** Logs every user in (on any replica). */
  static async login (url: string, options: LoadOptions): Promise<UserLoad> {
    const make = async (role: string, i: number) => {
      const browser = new Browser(url)
      await browser.login(`${role}-${i}`)
      return browser
    }
    const visitors = await Promise.all(Array.from({ length: options.visitors }, async (_, i) => await make('visitor', i)))
    const posters = await Promise.all(Array.from({ length: options.posters ?? 0 }, async (_, i) => await make('poster', i)))
    const loginers = await Promise.all(Array.from({ length: options.loginers ?? 0 }, async (_, i) => await make('loginer', i)))
    return new UserLoad(visitors, posters, loginers)
  }

  get failures (): Outcome[] {
    return this.outcomes.filter(o => o.status !== 200 && o.status !== 302)
  }

  count (method?: 'GET' | 'POST'): number {
    return method ? this.outcomes.filter(o => o.method === method).length : this.outcomes.length
  }

  /** Starts every user's loop; they stop when `t` ends, whatever happens in between (a failed wait included). */
  start (t: Test): void {
    t.teardown(async () => await this.stop())
    this.#running = true
    this.#loops = [
      ...[...this.visitors].map(async ([name, user]) => { while (this.#running) await this.#visit(name, user) }),
      ...this.#posters.map(async (user, i) => {
        for (let n = i; this.#running; n++) await this.#post(`poster-${i}`, user, n % 2 === 0 ? 'dark' : 'light')
      }),
      ...this.#loginers.map(async (user, i) => {
        while (this.#running) await this.#send('POST', `loginer-${i}`, async () => await user.post('/login', { username: `loginer-${i}` }))
      })
    ]
  }

  /** Resolves once `more` further answers have come in; a deadline keeps a stuck load from hanging the test. */
  async waitFor (more: number, timeoutMs = scaled(20_000)): Promise<void> {
    const target = this.outcomes.length + more
    await pollUntil(`${more} more answers under load`, async () => (this.outcomes.length >= target ? true : undefined), timeoutMs, 20)
  }

  async stop (): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
  }

  /** Every user's count, as the site shows it now. */
  async finalCounts (): Promise<number[]> {
    return await Promise.all([...this.visitors.values()].map(async user => visitsOf((await user.get('/whoami')).text) ?? -1))
  }

  /** How many sessions each login-looping user has now: 1 each, unless a repeated login left one behind. */
  async sessionsPerLoginer (): Promise<number[]> {
    return await Promise.all(this.#loginers.map(async user => {
      const res = await user.get('/sessions', { headers: { accept: 'application/json' } })
      return (JSON.parse(res.text) as { sessions: unknown[] }).sessions.length
    }))
  }

  async #visit (name: string, user: Browser): Promise<void> {
    const outcome = await this.#send('GET', name, async () => await user.get('/'))
    if (outcome?.status !== 200) return
    const count = visitsOf(outcome.text)
    const last = this.#lastCount.get(user) ?? 0
    if (count === null) {
      this.lostSessions.push(`${outcome.servedBy} answered "${outcome.text.trim()}" after ${last} visits`)
      return
    }
    if (count <= last) {
      this.countsWentBack.push(`${outcome.servedBy} answered visits ${count} after ${last}`)
      return
    }
    this.extraCounts += count - last - 1
    this.#lastCount.set(user, count)
  }

  async #post (name: string, user: Browser, theme: string): Promise<void> {
    await this.#send('POST', name, async () => await user.post('/preferences', { theme }))
  }

  async #send (method: 'GET' | 'POST', user: string, send: () => ReturnType<Browser['get']>) {
    const started = performance.now()
    try {
      const res = await send()
      const at = performance.now()
      this.outcomes.push({ method, user, at, status: res.status, requestId: res.headers.get('x-request-id'), servedBy: res.servedBy, ms: at - started })
      return res
    } catch {
      const at = performance.now()
      this.outcomes.push({ method, user, at, status: 0, requestId: null, servedBy: null, ms: at - started })
      return undefined
    }
  }
}

/** One line of nginx's access log (loadbalancer/nginx.conf.template, log_format upstreams). */
export interface AccessLine {
  requestId: string
  method: string
  status: number
  /** Every replica address nginx tried, in order. */
  upstreams: string[]
}

/** Collects nginx's access log lines by request id (pass `collect` as the stack's onLine). */
export class AccessLog {
  readonly byId = new Map<string, AccessLine>()
  readonly #parse = upstreamsLogParser()
  readonly collect = (source: string, line: string) => {
    if (source !== 'nginx') return
    const fields = this.#parse(line)
    if (!fields) return
    this.byId.set(fields.request_id!, {
      requestId: fields.request_id!,
      method: fields.request!.split(' ')[0]!,
      status: Number(fields.status),
      upstreams: fields.upstream_addr!.split(/, | : /)
    })
  }

  /** Waits until nginx has logged every given request (it writes the line after answering). */
  async lines (outcomes: Array<Pick<Outcome, 'requestId'>>): Promise<AccessLine[]> {
    const ids = outcomes.map(o => o.requestId).filter((id): id is string => id !== null)
    await pollUntil('nginx to log every request', async () => (ids.every(id => this.byId.has(id)) ? true : undefined), scaled(5000), 20)
    return ids.map(id => this.byId.get(id)!)
  }
}
