// The tutorial's pages: a visit counter for a logged-in user, login and logout.
import type { FastifyPluginAsync } from 'fastify'
import { InvalidUsernameError, NotLoggedInError } from '../errors.ts'
import { escapeHtml, formatFor, postButton, TEXT } from '../views.ts'

/**
 * Letters (any script, with their combining marks), digits and . _ @ -, with single inner spaces allowed: no
 * control or format characters (bidi overrides, zero-width joiners), no leading or trailing space.
 */
export const USERNAME = '^[\\p{L}\\p{N}._@-][\\p{L}\\p{M}\\p{N}._@-]*(?: [\\p{L}\\p{M}\\p{N}._@-]+)*$'

export interface PageRouteOptions {
  replicaName: string
  cookieName: string
  /** Logins per minute per client address (0: no limit). */
  loginRateLimit: number
}

const notLoggedIn = {
  title: 'Not logged in',
  text: TEXT.notLoggedIn,
  html: `<p class="lead">${TEXT.notLoggedIn}.</p>
<p>Log in with any name: this demo has no passwords. Each visit to this page then counts, whichever replica serves it.</p>
<p class="actions"><a class="button primary" href="/login">Log in</a></p>`
}

/**
 * The user agent as sent. Node reads header bytes as Latin-1, so a UTF-8 agent ("Mözilla") would be stored and
 * shown garbled; bytes that are valid UTF-8 are read as such, anything else stays as received.
 */
export function userAgentOf (raw: string | undefined): string | undefined {
  if (!raw) return undefined
  let ua = raw
  try {
    ua = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(raw, 'latin1'))
  } catch {}
  return ua.slice(0, 160)
}

const pageRoutes: FastifyPluginAsync<PageRouteOptions> = async (app, { replicaName, cookieName, loginRateLimit }) => {
  // The visit is counted in Redis (HINCRBY) while the session loads: one round trip, and concurrent visits on
  // any replica are never lost. Should the load not have carried it, it is counted here instead.
  app.get('/', { config: { sessionIncrement: 'visits' } }, async (request, reply) => {
    const { user, sessionId } = request.session
    const counted = request.sessionIncrement?.applied === true
    const visits = !user ? null : counted ? Number(request.session.visits) : await app.sessions.increment(sessionId, 'visits')
    if (!user || visits === null) {
      // The tutorial's page says so with a 200; a JSON client gets the error it can act on.
      if (formatFor(request.headers.accept) === 'json') throw new NotLoggedInError()
      return reply.page(notLoggedIn)
    }
    const text = TEXT.visits(user, visits)
    return reply.page({
      title: 'Welcome',
      text,
      html: `<p class="lead">${escapeHtml(text)}</p>
<p>Reload: the count goes on, whichever replica answers (named at the top of the page).</p>
<div class="actions"><a class="button primary" href="/watch">Watch requests hop</a>
<a href="/sessions">Your sessions</a><a href="/preferences">Preferences</a>${postButton('/logout', 'Log out')}</div>`,
      json: { user, visits }
    })
  })

  app.get('/login', async (_request, reply) => reply.page({
    title: 'Log in',
    text: 'POST /login with the form field username to log in',
    html: `<form class="stacked" method="post" action="/login"><label>Username <input name="username" required maxlength="64" autocomplete="username" autofocus></label>
<button type="submit">Log in</button></form>`
  }))

  app.post<{ Body: { username: string } }>('/login', {
    config: loginRateLimit > 0 ? { rateLimit: { max: loginRateLimit, timeWindow: 60_000 } } : {},
    schemaErrorFormatter: () => new InvalidUsernameError(),
    schema: {
      body: {
        type: 'object',
        required: ['username'],
        properties: { username: { type: 'string', minLength: 1, maxLength: 64, pattern: USERNAME } }
      }
    }
  }, async (request, reply) => {
    const session = request.session
    // One spelling per name: "é" typed as e + U+0301 is the same user as the precomposed "é".
    session.user = request.body.username.normalize('NFC')
    const ua = userAgentOf(request.headers['user-agent'])
    if (ua) session.ua = ua // absent rather than empty: a field costs Redis memory
    session.via = replicaName
    // A new id at every login, the old session deleted: an id planted before login is worthless after it.
    await session.regenerate(['user', 'ua', 'via'])
    return reply.redirect('/', 302)
  })

  app.get('/logout', async (_request, reply) => reply.page({
    title: 'Log out',
    text: 'POST /logout to log out',
    html: `<div class="actions">${postButton('/logout', 'Log out')} <a href="/">Home</a></div>`
  }))

  app.post('/logout', async (request, reply) => {
    if (request.session.user) await request.session.destroy()
    reply.clearCookie(cookieName, { path: '/' })
    return reply.redirect('/', 302)
  })
}

export default pageRoutes
