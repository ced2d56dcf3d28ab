// Rendering the nginx template for local runs: upstream lines, variables filled in, and a variable left unfilled
// refused before nginx ever sees the config.
/* eslint-disable no-template-curly-in-string -- ${NGINX_*} and ${variable} are nginx's syntax, not JavaScript's */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { renderLoadBalancer, renderLocalMain, renderTemplate, upstreamLines } from '../../harness/nginx-config.ts'
import { TEMPLATE_PATH } from '../../harness/paths.ts'

t.test('one server line per replica, with the passive failover settings', async t => {
  t.equal(upstreamLines([{ host: '127.0.0.1', port: 3001 }, { host: '127.0.0.1', port: 3002 }]),
    'server 127.0.0.1:3001 max_fails=1 fail_timeout=5s;\n    server 127.0.0.1:3002 max_fails=1 fail_timeout=5s;')
})

t.test('renderTemplate fills ${NGINX_*} and leaves nginx\'s own $variables alone', async t => {
  const out = renderTemplate('listen ${NGINX_LISTEN}; ${NGINX_OTHER} $request_id ${not_ours}', { NGINX_LISTEN: '127.0.0.1:81' })
  t.equal(out, 'listen 127.0.0.1:81; ${NGINX_OTHER} $request_id ${not_ours}')
})

t.test('the real template renders completely', async t => {
  const rendered = renderLoadBalancer({
    listen: '127.0.0.1:8081',
    statusListen: '127.0.0.1:8082',
    upstreams: [{ host: '127.0.0.1', port: 40001 }, { host: '127.0.0.1', port: 40002 }],
    accessLog: '/tmp/x/access.log upstreams'
  })
  t.notMatch(rendered, /\$\{NGINX_[A-Z_]+\}/, 'no variable left')
  t.match(rendered, 'listen 127.0.0.1:8081;')
  t.match(rendered, 'listen 127.0.0.1:8082;', 'nginx\'s own counters on a listener of their own')
  t.match(rendered, 'server 127.0.0.1:40001 max_fails=1 fail_timeout=5s;')
  t.match(rendered, 'server 127.0.0.1:40002 max_fails=1 fail_timeout=5s;')
  t.match(rendered, 'access_log /tmp/x/access.log upstreams;')
  t.match(rendered, readFileSync(TEMPLATE_PATH, 'utf8').split('${NGINX_RESOLVER}')[0]!, 'the template\'s own text kept as it is')
})

t.test('a template variable without a value is an error, not a broken config', async t => {
  t.throws(() => renderLoadBalancer({ listen: ':1', statusListen: ':2', upstreams: [], accessLog: 'off' }, 'listen ${NGINX_LISTEN}; ${NGINX_NEW_THING}'),
    /nginx template variable \$\{NGINX_NEW_THING\} has no value/)
})

t.test('the local main config keeps everything in its directory and runs in the foreground', async t => {
  const main = renderLocalMain('/tmp/run', '/tmp/run/lb.conf', 2)
  t.match(main, 'daemon off;')
  t.match(main, 'worker_processes 2;')
  t.match(main, 'pid /tmp/run/nginx.pid;')
  t.match(main, 'include /tmp/run/lb.conf;')
  t.match(main, 'client_body_temp_path /tmp/run/tmp/body;')
})
