// The pages: plain text for curl and scripts, a small HTML page for browsers (chosen by the Accept header).
// Every user-supplied string goes through `escapeHtml`.
import type { FastifyReply, FastifyRequest } from 'fastify'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, c => ESCAPES[c] as string)
}

export function wantsHtml (request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/html')
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
}

export function sendPage (request: FastifyRequest, reply: FastifyReply, replica: string, page: Page): FastifyReply {
  if (wantsHtml(request)) {
    return reply.type('text/html; charset=utf-8').send(layout(page.title, page.html, replica))
  }
  return reply.type('text/plain; charset=utf-8').send(`${page.text}\n`)
}

export function postButton (action: string, label: string): string {
  return `<form method="post" action="${escapeHtml(action)}"><button type="submit">${escapeHtml(label)}</button></form>`
}
