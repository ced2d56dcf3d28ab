// Every session of the signed-in user: list them, end one, or end them all ("log out everywhere").
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { sessionHandle } from '../session-store.ts'
import { escapeHtml, postButton, sendPage } from '../views.ts'

const iso = (ms: number) => new Date(ms).toISOString()

const sessionRoutes: FastifyPluginAsync<{ replicaName: string, cookieName: string }> = async (app, { replicaName, cookieName }) => {
  function requireUser (request: FastifyRequest, reply: FastifyReply): string | undefined {
    const user = request.session.user
    if (!user) {
      reply.code(401)
      sendPage(request, reply, replicaName, {
        title: 'Not logged in',
        text: 'You are not logged in',
        html: '<p>You are not logged in</p><p><a href="/login">Log in</a></p>'
      })
    }
    return user
  }

  app.get('/sessions', async (request, reply) => {
    const user = requireUser(request, reply)
    if (!user) return reply
    const current = sessionHandle(request.session.sessionId)
    const sessions = await app.sessions.listForUser(user, ['ua', 'via'])
    const rows = sessions.map(s => ({
      ...s,
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
    return sendPage(request, reply, replicaName, { title: 'Your sessions', text: text.join('\n'), html })
  })

  app.post<{ Params: { handle: string } }>('/sessions/:handle/revoke', {
    schema: { params: { type: 'object', properties: { handle: { type: 'string', pattern: '^[A-Za-z0-9_-]{16}$' } } } }
  }, async (request, reply) => {
    const user = requireUser(request, reply)
    if (!user) return reply
    const { handle } = request.params
    if (!await app.sessions.revoke(user, handle)) {
      reply.code(404)
      return sendPage(request, reply, replicaName, { title: 'No such session', text: 'No such session', html: '<p>No such session</p>' })
    }
    if (handle === sessionHandle(request.session.sessionId)) {
      reply.clearCookie(cookieName, { path: '/' })
      return reply.redirect('/', 302)
    }
    return reply.redirect('/sessions', 302)
  })

  app.post('/sessions/revoke-all', async (request, reply) => {
    const user = requireUser(request, reply)
    if (!user) return reply
    await app.sessions.destroyAllForUser(user)
    reply.clearCookie(cookieName, { path: '/' })
    return reply.redirect('/', 302)
  })
}

export default sessionRoutes
