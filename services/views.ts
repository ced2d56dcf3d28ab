// The pages: plain text for curl and scripts, JSON for `Accept: application/json`, a small HTML page for browsers.
// `reply.page()` picks one by the Accept header and names the replica on each. Every user-supplied string in
// HTML goes through `escapeHtml`.
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** The texts a user (and every test and script) reads: one spelling each. */
export const TEXT = {
  notLoggedIn: 'You are not logged in',
  loggedInAs: (user: string) => `Logged in as ${user}`,
  visits: (user: string, visits: number) => `Logged in as ${user}. Visits: ${visits}`
}

/** "Logged in as NAME. Visits: N" → N, or null (the inverse of TEXT.visits, for scripts that read text). */
export function visitsOf (text: string): number | null {
  const match = /Visits: (\d+)/.exec(text)
  return match ? Number(match[1]) : null
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, c => ESCAPES[c] as string)
}

export type Format = 'html' | 'json' | 'text'

/** Browsers ask for HTML first; `fetch` and scripts ask for JSON; anything else (curl) gets text. */
export function formatFor (accept: string | undefined): Format {
  if (accept === undefined) return 'text'
  if (accept.includes('text/html')) return 'html'
  return accept.includes('application/json') ? 'json' : 'text'
}

/** The pages' only style sheet, inline: the Content-Security-Policy allows exactly this text, by its hash. */
export const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
footer{margin-top:2rem;color:#666;font-size:.85rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left}
form{display:inline}`

function layout (title: string, body: string, replica: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head>
<body><main>${body}</main>
<footer>Served by <strong>${escapeHtml(replica)}</strong></footer>
</body></html>
`
}

export interface Page {
  title: string
  /** Already-escaped HTML for the body. */
  html: string
  text: string
  /** The answer for JSON clients; servedBy and requestId are added. Without it, `{ message }`. */
  json?: Record<string, unknown>
}

export function postButton (action: string, label: string): string {
  return `<form method="post" action="${escapeHtml(action)}"><button type="submit">${escapeHtml(label)}</button></form>`
}

declare module 'fastify' {
  interface FastifyReply {
    /** Sends the page in the format the client asked for. */
    page(page: Page): FastifyReply
  }
}

export default fp<{ replicaName: string }>(async function views (app, { replicaName }) {
  app.decorateReply('page', function (this: FastifyReply, page: Page): FastifyReply {
    const request: FastifyRequest = this.request
    switch (formatFor(request.headers.accept)) {
      case 'html':
        return this.type('text/html; charset=utf-8').send(layout(page.title, page.html, replicaName))
      case 'json':
        return this.type('application/json; charset=utf-8')
          .send({ ...(page.json ?? { message: page.text }), servedBy: replicaName, requestId: request.id })
      default:
        return this.type('text/plain; charset=utf-8').send(`${page.text}\n`)
    }
  })
}, { name: 'views' })
