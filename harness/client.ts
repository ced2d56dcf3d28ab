// A user of the site: fetch with a cookie jar, redirects left visible. Tests and the benchmark log in with it.
export interface Response {
  status: number
  headers: Headers
  text: string
  /** X-Served-By: which replica answered. */
  servedBy: string | null
}

export interface RequestOptions {
  form?: Record<string, string>
  headers?: Record<string, string>
  signal?: AbortSignal
}

export class Browser {
  readonly baseUrl: string
  readonly cookies: Map<string, string>
  readonly headers: Record<string, string>
  /** How requests are sent: the global fetch, or one with its own connection settings (a CA to trust, a source address). */
  readonly fetch: typeof fetch

  constructor (baseUrl: string, headers: Record<string, string> = {}, cookies = new Map<string, string>(), transport: typeof fetch = fetch) {
    this.baseUrl = baseUrl
    this.headers = headers
    this.cookies = cookies
    this.fetch = transport
  }

  /** The same user (same cookie jar) talking to another address, e.g. one replica directly. */
  at (baseUrl: string): Browser {
    return new Browser(baseUrl, this.headers, this.cookies, this.fetch)
  }

  get cookieHeader (): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  async request (method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...options.headers }
    if (this.cookies.size > 0 && !headers.cookie) headers.cookie = this.cookieHeader
    let body: string | undefined
    if (options.form) {
      body = new URLSearchParams(options.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const res = await this.fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual', signal: options.signal })
    for (const cookie of res.headers.getSetCookie()) this.#store(cookie)
    return { status: res.status, headers: res.headers, text: await res.text(), servedBy: res.headers.get('x-served-by') }
  }

  async get (path: string, options?: RequestOptions): Promise<Response> {
    return await this.request('GET', path, options)
  }

  async post (path: string, form: Record<string, string> = {}, options?: RequestOptions): Promise<Response> {
    return await this.request('POST', path, { ...options, form })
  }

  /** POST /login; throws unless the site answered with the redirect to / and a session cookie. */
  async login (username: string): Promise<Response> {
    const res = await this.post('/login', { username })
    if (res.status !== 302 || !res.headers.getSetCookie().length) {
      throw new Error(`login as ${username} failed: ${res.status} ${res.text}`)
    }
    return res
  }

  #store (setCookie: string): void {
    const [pair = '', ...attributes] = setCookie.split(';').map(s => s.trim())
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq)
    const value = pair.slice(eq + 1)
    const expired = attributes.some(a => /^max-age=0$/i.test(a) ||
      (/^expires=/i.test(a) && Date.parse(a.slice(8)) <= Date.now()))
    if (expired || value === '') this.cookies.delete(name)
    else this.cookies.set(name, value)
  }
}

// The product's own reading of its page text (services/views.ts), so tests and the benchmark parse what it writes.
export { visitsOf } from '../services/views.ts'
