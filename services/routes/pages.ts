// The tutorial's pages: a visit counter for a logged-in user, login and logout.
import type { FastifyPluginAsync } from 'fastify'
import { escapeHtml, postButton, sendPage } from '../views.ts'

// Letters (any script, with their combining marks), digits and . _ @ -, with single inner spaces allowed: no
// control or format characters (bidi overrides, zero-width joiners), no leading or trailing space.
const USERNAME = '^[\\p{L}\\p{N}._@-][\\p{L}\\p{M}\\p{N}._@-]*(?: [\\p{L}\\p{M}\\p{N}._@-]+)*$'

export interface PageRouteOptions {
  replicaName: string
  cookieName: string
  /** Logins per minute per client address (0: no limit). */
  loginRateLimit: number
}

const pageRoutes: FastifyPluginAsync<PageRouteOptions> = async (app, { replicaName, cookieName, loginRateLimit }) => {
  const notLoggedIn = {
    title: 'Not logged in',
    text: 'You are not logged in',
    html: '<p>You are not logged in</p><p><a href="/login">Log in</a></p>'
  }

  // The visit is counted in Redis (HINCRBY) while the session loads: one round trip, and concurrent visits on
  // any replica are never lost. Should the load not have carried it, it is counted here instead.
  app.get('/', { config: { sessionIncrement: 'visits' } }, async (request, reply) => {
    const { user, sessionId } = request.session
    const counted = request.sessionIncrement?.applied === true
    const visits = !user ? null : counted ? Number(request.session.visits) : await app.sessions.increment(sessionId, 'visits')
    if (!user || visits === null) return sendPage(request, reply, replicaName, notLoggedIn)
    const text = `Logged in as ${user}. Visits: ${visits}`
    return sendPage(request, reply, replicaName, {
      title: 'Welcome',
      text,
      html: `<p>${escapeHtml(text)}</p><p><a href="/sessions">Your sessions</a></p>${postButton('/logout', 'Log out')}`
    })
  })

  // Reads the session and nothing else: the cheapest authenticated request.
  app.get('/whoami', async (request, reply) => {
    const { user } = request.session
    if (!user) return sendPage(request, reply, replicaName, notLoggedIn)
    const text = `Logged in as ${user}`
    return sendPage(request, reply, replicaName, { title: 'Who am I', text, html: `<p>${escapeHtml(text)}</p>` })
  })

  app.get('/login', async (request, reply) => sendPage(request, reply, replicaName, {
    title: 'Log in',
    text: 'POST /login with the form field username to log in',
    html: `<form method="post" action="/login"><label>Username <input name="username" required maxlength="64" autofocus></label>
<button type="submit">Log in</button></form>`
  }))

  app.post<{ Body: { username: string } }>('/login', {
    config: loginRateLimit > 0 ? { rateLimit: { max: loginRateLimit, timeWindow: 60_000 } } : {},
    schemaErrorFormatter: () => new Error('A username is 1 to 64 letters (any script) or digits, with . _ @ - and single spaces inside'),
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
    const ua = request.headers['user-agent']?.slice(0, 160)
    if (ua) session.ua = ua // absent rather than empty: a field costs Redis memory
    session.via = replicaName
    // A new id at every login, the old session deleted: an id planted before login is worthless after it.
    await session.regenerate(['user', 'ua', 'via'])
    return reply.redirect('/', 302)
  })

  // Preferences kept in the session: each request writes only the fields it changes, so two of them
  // racing on two replicas both stick (a whole-session store would keep only the last one).
  app.get('/preferences', async (request, reply) => {
    const { user, theme = 'light', language = 'en' } = request.session
    if (!user) return sendPage(request, reply, replicaName, notLoggedIn)
    const text = `theme=${theme} language=${language}`
    return sendPage(request, reply, replicaName, {
      title: 'Preferences',
      text,
      html: `<p>${escapeHtml(text)}</p><form method="post" action="/preferences">
<label>Theme <select name="theme"><option>light</option><option>dark</option></select></label>
<label>Language <input name="language" maxlength="2" value="${escapeHtml(language)}"></label>
<button type="submit">Save</button></form>`
    })
  })

  app.post<{ Body: { theme?: 'light' | 'dark', language?: string } }>('/preferences', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { theme: { enum: ['light', 'dark'] }, language: { type: 'string', pattern: '^[a-z]{2}$' } }
      }
    }
  }, async (request, reply) => {
    const session = request.session
    if (!session.user) return sendPage(request, reply.code(401), replicaName, notLoggedIn)
    if (request.body.theme) session.theme = request.body.theme
    if (request.body.language) session.language = request.body.language
    return reply.redirect('/preferences', 302)
  })

  app.get('/logout', async (request, reply) => sendPage(request, reply, replicaName, {
    title: 'Log out',
    text: 'POST /logout to log out',
    html: postButton('/logout', 'Log out')
  }))

  app.post('/logout', async (request, reply) => {
    if (request.session.user) await request.session.destroy()
    reply.clearCookie(cookieName, { path: '/' })
    return reply.redirect('/', 302)
  })
}

export default pageRoutes
