// Every session of the signed-in user: list them, end one, or end them all ("log out everywhere").
import type { FastifyPluginAsync } from 'fastify'
import { NoSuchSessionError } from '../errors.ts'
import { HANDLE_PATTERN, sessionHandle } from '../session-store/keys.ts'
import { escapeHtml, postButton } from '../views.ts'

const iso = (ms: number) => new Date(ms).toISOString()

const sessionRoutes: FastifyPluginAsync<{ cookieName: string }> = async (app, { cookieName }) => {
  app.get('/sessions', async (request, reply) => {
    const user = request.session.user!
    const current = sessionHandle(request.session.sessionId)
    const sessions = await app.sessions.listForUser(user, ['ua', 'via'])
    const rows = sessions.map(s => ({
      handle: s.handle,
      createdAt: s.createdAt,
      lastSeenAt: s.lastSeenAt,
      expiresAt: s.expiresAt,
      current: s.handle === current,
      ua: String(s.fields.ua ?? ''),
      via: String(s.fields.via ?? '')
    }))
    const text = [`Sessions of ${user}: ${rows.length}`,
      ...rows.map(r => [r.handle, `created ${iso(r.createdAt)}`, `last seen ${iso(r.lastSeenAt)}`,
        `via ${r.via}`, `agent ${JSON.stringify(r.ua)}`, r.current ? '(this one)' : ''].join('  ').trimEnd())]
    const html = `<h1>Sessions of ${escapeHtml(user)}</h1>
<table><tr><th>Created</th><th>Last seen</th><th>Device</th><th>Logged in via</th><th></th></tr>
${rows.map(r => `<tr><td>${iso(r.createdAt)}</td><td>${iso(r.lastSeenAt)}</td><td>${escapeHtml(r.ua) || '—'}</td>
<td>${escapeHtml(r.via)}</td><td>${r.current ? '<strong>this one</strong> ' : ''}${postButton(`/sessions/${r.handle}/revoke`, 'End')}</td></tr>`).join('\n')}
</table><p>${postButton('/sessions/revoke-all', 'Log out everywhere')} <a href="/">Home</a></p>`
    return reply.page({ title: 'Your sessions', text: text.join('\n'), html, json: { user, sessions: rows } })
  })

  app.post<{ Params: { handle: string } }>('/sessions/:handle/revoke', {
    schema: { params: { type: 'object', properties: { handle: { type: 'string', pattern: HANDLE_PATTERN } } } }
  }, async (request, reply) => {
    const { handle } = request.params
    if (!await app.sessions.revoke(request.session.user!, handle)) throw new NoSuchSessionError()
    app.metrics?.revocations.inc({ scope: 'one' })
    if (handle === sessionHandle(request.session.sessionId)) {
      reply.clearCookie(cookieName, { path: '/' })
      return reply.redirect('/', 302)
    }
    return reply.redirect('/sessions', 302)
  })

  app.post('/sessions/revoke-all', async (request, reply) => {
    const ended = await app.sessions.destroyAllForUser(request.session.user!)
    app.metrics?.revocations.inc({ scope: 'all' }, ended)
    reply.clearCookie(cookieName, { path: '/' })
    return reply.redirect('/', 302)
  })
}

export default sessionRoutes
