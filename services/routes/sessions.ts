// Every session of the signed-in user: list them, end one, or end them all ("log out everywhere").
import type { FastifyPluginAsync } from 'fastify'
import { NoSuchSessionError } from '../errors.ts'
import { HANDLE_PATTERN, sessionHandle } from '../session-store/keys.ts'
import { deviceName, exactTime, timeAgo } from '../readable.ts'
import { escapeHtml, postButton } from '../views.ts'

const iso = (ms: number) => new Date(ms).toISOString()

const sessionRoutes: FastifyPluginAsync = async (app) => {
  const { cookieName } = app.config.session
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
    // Redis' clock, which the times shown are on: a replica whose own clock is off still says "2 minutes ago".
    const now = await app.sessions.now()
    const when = (ms: number) => `<time datetime="${iso(ms)}" title="${exactTime(ms)}">${timeAgo(ms, now)}</time>`
    const html = `<p>${escapeHtml(user)} is logged in ${rows.length === 1 ? 'once' : `${rows.length} times`}: each login is a
session of its own, on any replica. End one you do not recognise.</p>
<table class="sessions"><thead><tr><th>Device</th><th>Logged in</th><th>Last seen</th><th>Logged in via</th><th></th></tr></thead><tbody>
${rows.map(r => `<tr${r.current ? ' class="current"' : ''}><td data-label="Device"><span title="${escapeHtml(r.ua) || 'no user agent'}">${escapeHtml(deviceName(r.ua))}</span></td>
<td data-label="Logged in">${when(r.createdAt)}</td><td data-label="Last seen">${when(r.lastSeenAt)}</td>
<td data-label="Logged in via">${escapeHtml(r.via) || '—'}</td>
<td data-label="">${r.current ? '<strong>this one</strong> ' : ''}${postButton(`/sessions/${r.handle}/revoke`, 'End')}</td></tr>`).join('\n')}
</tbody></table><div class="actions">${postButton('/sessions/revoke-all', 'Log out everywhere')} <a href="/">Home</a></div>`
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
