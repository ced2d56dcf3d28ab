// The pages: plain text for curl and scripts, JSON for `Accept: application/json`, a small HTML page for browsers.
// `reply.page()` picks one by the Accept header and names the replica on each. Every user-supplied string in
// HTML goes through `escapeHtml`.
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ASSETS_PREFIX } from './plugins/assets.ts'

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

const SITE_NAME = 'Shared sessions'

/** What the header depends on: who is logged in, their theme, and where they are. */
interface Visitor {
  user?: string
  theme?: string
  path: string
}

function nav (visitor: Visitor): string {
  const links: Array<[string, string]> = visitor.user
    ? [['/', 'Home'], ['/watch', 'Watch'], ['/sessions', 'Sessions'], ['/preferences', 'Preferences']]
    : [['/', 'Home'], ['/login', 'Log in']]
  return links.map(([href, label]) =>
    `<a href="${href}"${href === visitor.path ? ' aria-current="page"' : ''}>${label}</a>`).join('')
}

function layout (page: Page, replica: string, visitor: Visitor): string {
  const script = page.script ? `\n<script type="module" src="${ASSETS_PREFIX}${escapeHtml(page.script)}"></script>` : ''
  // The theme is an attribute of the whole page: the stylesheet does the rest, so no page needs to know about it.
  const theme = visitor.theme === 'dark' ? 'dark' : 'light'
  return `<!doctype html>
<html lang="en" data-theme="${theme}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} · ${SITE_NAME}</title>
<link rel="stylesheet" href="${ASSETS_PREFIX}site.css">${script}
</head>
<body>
<header><a class="site" href="/">${SITE_NAME}</a><nav>${nav(visitor)}</nav>
<span class="served">Served by <strong>${escapeHtml(replica)}</strong></span></header>
<main><h1>${escapeHtml(page.title)}</h1>
${page.html}</main>
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
  /** A script from services/public/ the HTML page loads (an ES module). */
  script?: string
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

export default fp(async function views (app) {
  const { replicaName } = app.config
  app.decorateReply('page', function (this: FastifyReply, page: Page): FastifyReply {
    const request: FastifyRequest = this.request
    switch (formatFor(request.headers.accept)) {
      case 'html': {
        // The session as already loaded (none outside the session scope, or after an error): no Redis call.
        const session = (request as { session?: { user?: string, theme?: string } | null }).session
        const visitor = { user: session?.user, theme: session?.theme, path: request.url.split('?', 1)[0]! }
        return this.type('text/html; charset=utf-8').send(layout(page, replicaName, visitor))
      }
      case 'json':
        return this.type('application/json; charset=utf-8')
          .send({ ...(page.json ?? { message: page.text }), servedBy: replicaName, requestId: request.id })
      default:
        return this.type('text/plain; charset=utf-8').send(`${page.text}\n`)
    }
  })
}, { name: 'views', dependencies: ['config'] })
