// What a logged-in user reads and changes about their own session (behind the guard, see app.ts).
import type { FastifyPluginAsync } from 'fastify'
import { escapeHtml, TEXT } from '../views.ts'

const accountRoutes: FastifyPluginAsync = async (app) => {
  // Reads the session and nothing else: the cheapest authenticated request.
  app.get('/whoami', async (request, reply) => {
    const user = request.session.user!
    const text = TEXT.loggedInAs(user)
    return reply.page({ title: 'Who am I', text, html: `<p>${escapeHtml(text)}</p>`, json: { user } })
  })

  // Preferences kept in the session: each request writes only the fields it changes, so two of them
  // racing on two replicas both stick (a whole-session store would keep only the last one).
  app.get('/preferences', async (request, reply) => {
    const { theme = 'light', language = 'en' } = request.session
    const text = `theme=${theme} language=${language}`
    return reply.page({
      title: 'Preferences',
      text,
      html: `<p>Kept in your session, so every replica knows them. The theme changes how every page of this site looks.</p>
<form class="stacked" method="post" action="/preferences">
<label>Theme <select name="theme">${['light', 'dark'].map(t => `<option${t === theme ? ' selected' : ''}>${t}</option>`).join('')}</select></label>
<label>Language <input name="language" maxlength="2" size="4" value="${escapeHtml(language)}"></label>
<button type="submit">Save</button></form>
<p><a href="/">Home</a></p>`,
      json: { theme, language }
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
    if (request.body.theme) session.theme = request.body.theme
    if (request.body.language) session.language = request.body.language
    return reply.redirect('/preferences', 302)
  })
}

export default accountRoutes
