// Rendering the nginx template for local runs: upstream lines, variables filled in, and a variable left unfilled
// refused before nginx ever sees the config.
/* eslint-disable no-template-curly-in-string -- ${NGINX_*} and ${variable} are nginx's syntax, not JavaScript's */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseTrustedProxy, renderLoadBalancer, renderLocalMain, renderTemplate, tlsDirectives, trustedProxyDirectives, upstreamLines } from '../../harness/nginx-config.ts'
import { PROJECT_ROOT, TEMPLATE_PATH } from '../../harness/paths.ts'

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

t.test('HTTPS: a listener, the pair quoted as one argument each, and a redirect only when asked', async t => {
  const tls = { listen: '127.0.0.1:8443', cert: '/run/my certs/cert.pem', key: '/run/k"ey.pem' }
  t.same(tlsDirectives(tls), {
    NGINX_TLS_LISTEN: 'listen 127.0.0.1:8443 ssl;',
    NGINX_TLS_CERTIFICATE: 'ssl_certificate "/run/my certs/cert.pem";',
    NGINX_TLS_CERTIFICATE_KEY: 'ssl_certificate_key "/run/k\\"ey.pem";',
    NGINX_HTTP_REDIRECT: ''
  })
  t.equal(tlsDirectives({ ...tls, redirectPort: 8443 }).NGINX_HTTP_REDIRECT,
    'if ($client_scheme = http) { return 308 https://$host:8443$request_uri; }', 'the scheme the user saw decides, so a proxy\'s HTTPS is not redirected')
  t.match(tlsDirectives({ ...tls, redirectPort: 443 }).NGINX_HTTP_REDIRECT, 'https://$host$request_uri', 'no :443 in the URL')
  t.same(Object.values(tlsDirectives(undefined)), ['', '', '', ''], 'without TLS, nothing')
})

t.test('trusted proxies: realip lines and geo lines from one list, and anything else refused', async t => {
  t.same(trustedProxyDirectives(['10.0.0.5', ' 10.1.0.0/16', 'fd00::/8']), {
    NGINX_SET_REAL_IP_FROM: 'set_real_ip_from 10.0.0.5; set_real_ip_from 10.1.0.0/16; set_real_ip_from fd00::/8;',
    NGINX_TRUSTED_PROXY_GEO: '10.0.0.5 1; 10.1.0.0/16 1; fd00::/8 1;'
  })
  t.same(trustedProxyDirectives([]), { NGINX_SET_REAL_IP_FROM: '', NGINX_TRUSTED_PROXY_GEO: '' }, 'none: nginx is the edge')
  for (const wrong of ['proxy.internal', '10.0.0.0/33', '10.0.0.0/8/1', '10.0.0.0/', 'fd00::/129', '10.0.0.5; allow all']) {
    t.throws(() => parseTrustedProxy(wrong), /is not an address or CIDR/, JSON.stringify(wrong))
  }
})

t.test('every template variable is given a value by docker.env, so compose renders a complete config', async t => {
  const template = readFileSync(TEMPLATE_PATH, 'utf8').split('\n').filter(line => !line.startsWith('#')).join('\n')
  const used = new Set([...template.matchAll(/\$\{(NGINX_[A-Z_]+)\}/g)].map(m => m[1]))
  const defined = new Set([...readFileSync(join(PROJECT_ROOT, 'loadbalancer', 'docker.env'), 'utf8').matchAll(/^(NGINX_[A-Z_]+)=/gm)].map(m => m[1]))
  t.same([...used].filter(name => !defined.has(name)), [])
  t.ok(used.has('NGINX_TLS_LISTEN') && used.has('NGINX_SET_REAL_IP_FROM'))
})
