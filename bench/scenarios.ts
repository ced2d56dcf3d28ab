// The benchmark's scenarios: what each sends, to where, with which sessions.
import type { Options } from 'autocannon'
import { Browser } from '../harness/client.ts'
import { TRIP_HEADER } from './one-round-trip.ts'

export interface Target {
  /** nginx in front of the replicas. */
  url: string
  /** One replica directly (the `direct` scenario); absent when measuring a stack we did not start. */
  replicaUrl?: string
}

export interface Scenario {
  name: string
  what: string
  /** Log in the sessions this scenario needs (one per connection) and return autocannon's options. */
  prepare: (target: Target, connections: number) => Promise<Partial<Options> & { url: string, expectStatus?: number }>
}

/** Distinct logged-in sessions, one per connection: the hot path over many users, not one cookie hammered. */
async function sessions (url: string, count: number, loginPath: string, cookieName: string): Promise<string[]> {
  const cookies: string[] = []
  for (let i = 0; i < count; i++) {
    const browser = new Browser(url)
    const res = await browser.post(loginPath, { username: `bench${i}` })
    if (res.status !== 302) throw new Error(`login for the benchmark failed: ${res.status} ${res.text}`)
    cookies.push(`${cookieName}=${browser.cookies.get(cookieName)}`)
  }
  return cookies
}

function perConnection (cookies: string[]): Options['setupClient'] {
  let next = 0
  return client => client.setHeaders({ cookie: cookies[next++ % cookies.length]! })
}

/** A signed cookie (`sid=<id>.<signature>`, URL-encoded) → the bare session id the trip route reads. */
export function bareSessionId (cookie: string): string {
  return decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.', 1)[0]!
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'floor-nginx',
    what: 'nginx answering by itself (return 200)',
    prepare: async ({ url }) => ({ url: `${url}/lb/health` })
  },
  {
    name: 'floor-app',
    what: 'a replica route with no session, through nginx',
    prepare: async ({ url }) => ({ url: `${url}/health/live` })
  },
  {
    name: 'hot',
    what: 'authenticated GET / (read, slide, visit count), distinct sessions, through nginx',
    prepare: async ({ url }, connections) => ({ url: `${url}/`, setupClient: perConnection(await sessions(url, connections, '/login', 'sid')) })
  },
  {
    name: 'trip',
    what: 'the one-round-trip floor: the same load script (read, slide, visit count) with the bare id in a header, no session plugin, no cookie signature',
    prepare: async ({ url }, connections) => {
      const ids = (await sessions(url, connections, '/login', 'sid')).map(bareSessionId)
      let next = 0
      return { url: `${url}/trip/`, setupClient: client => client.setHeaders({ [TRIP_HEADER]: ids[next++ % ids.length]! }) }
    }
  },
  {
    name: 'read-only',
    what: 'authenticated GET /whoami (read and slide only)',
    prepare: async ({ url }, connections) => ({ url: `${url}/whoami`, setupClient: perConnection(await sessions(url, connections, '/login', 'sid')) })
  },
  {
    name: 'login',
    what: 'POST /login (a new session each time)',
    prepare: async ({ url }) => ({
      url: `${url}/login`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      // A distinct user per login, as real traffic has.
      body: 'username=login-[<id>]',
      idReplacement: true,
      expectStatus: 302
    })
  },
  {
    name: 'blob',
    what: 'the hot path on @fastify/session + connect-redis (whole-JSON store)',
    prepare: async ({ url }, connections) => ({ url: `${url}/blob/`, setupClient: perConnection(await sessions(url, connections, '/blob/login', 'blobsid')) })
  },
  {
    name: 'direct',
    what: 'hot, sent to one replica without nginx',
    prepare: async ({ url, replicaUrl }, connections) => {
      if (!replicaUrl) throw new Error('direct needs a replica URL (not available with --url)')
      return { url: `${replicaUrl}/`, setupClient: perConnection(await sessions(url, connections, '/login', 'sid')) }
    }
  }
]
