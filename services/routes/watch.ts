// The watch page: its script (public/watch.js) visits / with the session and shows which replica answered each
// request. The page itself is static markup; without JavaScript it still says what it is and links to /.
import type { FastifyPluginAsync } from 'fastify'

/** How often the page visits /: often enough to see the turns, far below anything that loads a replica. */
export const WATCH_INTERVAL_MS = 400

const about = `This page visits <a href="/">/</a> every ${WATCH_INTERVAL_MS} ms with your session, as any visit would, and shows
which replica answered each request, the visit count and how long each request took. Stop a replica or Redis and watch
what happens.`

const html = `<p>${about}</p>
<noscript><p class="notice">This page needs JavaScript. Without it, reload <a href="/">the home page</a>: each visit
names the replica that served it.</p></noscript>
<section id="watch" class="watch" data-interval="${WATCH_INTERVAL_MS}" hidden>
<div class="bar"><p id="status" class="status" role="status" aria-live="polite">Starting…</p>
<button id="toggle" type="button" aria-pressed="false">Pause</button></div>
<dl class="figures">
<div><dt>Visits</dt><dd id="visits">–</dd></div>
<div><dt>Latency</dt><dd id="latency">–</dd></div>
<div><dt>Requests</dt><dd id="requests">0</dd></div>
<div><dt>Failures</dt><dd id="failures">0</dd></div>
</dl>
<h2>Replicas</h2>
<table class="tally"><thead><tr><th>Replica</th><th>Answers</th><th>Last answer</th></tr></thead><tbody id="tally"></tbody></table>
<h2>Last 60 requests</h2>
<ol id="strip" class="strip" aria-label="Last 60 requests, oldest first"></ol>
<h2>Failures</h2>
<ol id="failure-log" class="failure-log"><li class="none">None so far.</li></ol>
</section>`

const watchRoutes: FastifyPluginAsync = async (app) => {
  app.get('/watch', async (_request, reply) => reply.page({
    title: 'Watch requests hop',
    text: `Open /watch in a browser: it visits / every ${WATCH_INTERVAL_MS} ms and shows which replica answers`,
    html,
    script: 'watch.js'
  }))
}

export default watchRoutes
