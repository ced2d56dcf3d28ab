// The tutorial's pages: a visit counter for a logged-in user, login and logout.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidUsernameError, NotLoggedInError } from '../errors.ts'
import { normaliseUsername, USERNAME } from '../username.ts'
import { escapeHtml, formatFor, postButton, TEXT } from '../views.ts'

/**
 * A header value as the client sent it. Node hands header bytes over as latin1, one character per byte; a
 * browser's non-ASCII user agent is UTF-8, so it is decoded as such when it is valid UTF-8.
 */
export function headerText (value: string): string {
  const bytes = Buffer.from(value, 'latin1')
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return value
  }
}

const notLoggedIn = {
  title: 'Not logged in',
  text: TEXT.notLoggedIn,
  html: `<p class="lead">${TEXT.notLoggedIn}.</p>
<p>Log in with any name: this demo has no passwords. Each visit to this page then counts, whichever replica serves it.</p>
<p class="actions"><a class="button primary" href="/login">Log in</a></p>`
}

const pageRoutes: FastifyPluginAsync = async (app) => {
  const { replicaName, loginRateLimit, session: { cookieName } } = app.config
  // The visit is counted in Redis (HINCRBY) while the session loads: one round trip, and concurrent visits on
  // any replica are never lost. Should the load not have carried it, it is counted here instead.
  // HEAD gets the same answer without its body, and counts nothing (a HEAD request must not change anything
  // visible; like every request with a session, it keeps the session alive).
  const home = (count: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const { user, sessionId } = request.session
    const counted = request.sessionIncrement?.applied === true
    const visits = !user ? null : counted || !count ? Number(request.session.visits ?? 0) : await app.sessions.increment(sessionId, 'visits')
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
  }
  app.get('/', { config: { sessionIncrement: 'visits' }, exposeHeadRoute: false }, home(true))
  app.head('/', home(false))

  app.get('/login', async (_request, reply) => reply.page({
    title: 'Log in',
    text: 'POST /login with the form field username to log in',
    html: `<form class="stacked" method="post" action="/login"><label>Username <input name="username" required maxlength="64" autocomplete="username" autofocus></label>
<button type="submit">Log in</button></form>`
  }))

  app.post<{ Body: { username: string } }>('/login', {
    config: loginRateLimit > 0 ? { rateLimit: { max: loginRateLimit, timeWindow: 60_000 } } : {},
    // Normalised before validation: the length and characters checked are those stored (NFC can lengthen a
    // name: U+FB2C is three code points in NFC).
    preValidation: async (request: FastifyRequest<{ Body: { username: string } }>) => {
      // Any JSON may arrive here (a string, an array): only an object's field is touched; the schema refuses the rest.
      const body: unknown = request.body
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) request.body.username = normaliseUsername(request.body.username) as string
    },
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
    session.user = request.body.username
    const ua = request.headers['user-agent'] && headerText(request.headers['user-agent']).slice(0, 160)
    if (ua) session.ua = ua // absent rather than empty: a field costs Redis memory
    session.via = replicaName
    // A new id at every login, the old session deleted: an id planted before login is worthless after it. The
    // same new id for a login nginx re-sends: a repeat leaves no second session behind.
    await request.loginSession(reply, ['user', 'ua', 'via'])
    app.metrics?.logins.inc()
    return reply.redirect('/', 302)
  })

  app.get('/logout', async (_request, reply) => reply.page({
    title: 'Log out',
    text: 'POST /logout to log out',
    html: `<div class="actions">${postButton('/logout', 'Log out')} <a href="/">Home</a></div>`
  }))

  app.post('/logout', async (request, reply) => {
    if (request.session.user) {
      await request.session.destroy()
      app.metrics?.logouts.inc()
    }
    reply.clearCookie(cookieName, { path: '/' })
    return reply.redirect('/', 302)
  })
}

export default pageRoutes
