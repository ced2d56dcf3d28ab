// Timings that hold only together across processes, read from where each lives: a change to one side fails here.
import t from 'tap'
import { renderLoadBalancer } from '../../harness/nginx-config.ts'
import { KEEP_ALIVE_TIMEOUT_MS } from '../../services/app.ts'
import { loadConfig } from '../../services/config.ts'
import { LOGIN_RETRY_WINDOW_MS } from '../../services/session-store/store.ts'

const nginx = renderLoadBalancer({ listen: '127.0.0.1:1', statusListen: '127.0.0.1:2', upstreams: [{ host: '127.0.0.1', port: 3 }], accessLog: 'off' })

/** A directive's value in ms ('4s', '500ms'), from the block opened by `block` when given. */
function nginxMs (directive: string, block?: RegExp): number {
  const text = block ? nginx.slice(nginx.search(block), nginx.indexOf('}', nginx.search(block))) : nginx
  const match = new RegExp(`^\\s*${directive}\\s+(\\d+)(ms|s)?;`, 'm').exec(text)
  if (!match) throw new Error(`no ${directive} in the rendered nginx config`)
  return Number(match[1]) * (match[2] === 'ms' ? 1 : 1000)
}

const upstreamKeepalive = nginxMs('keepalive_timeout', /^\s*upstream\s/m)

t.test('nginx closes an idle upstream connection before the replica would', async t => {
  t.ok(KEEP_ALIVE_TIMEOUT_MS > upstreamKeepalive, `replica ${KEEP_ALIVE_TIMEOUT_MS} ms > nginx upstream keepalive_timeout ${upstreamKeepalive} ms`)
})

t.test('a stopping replica\'s default drain time outlasts nginx\'s idle upstream connections', async t => {
  const { shutdownDrainMs } = loadConfig({})
  t.ok(shutdownDrainMs > upstreamKeepalive, `SHUTDOWN_DRAIN ${shutdownDrainMs} ms > nginx upstream keepalive_timeout ${upstreamKeepalive} ms`)
})

t.test('a login keeps its request id longer than nginx may re-send it', async t => {
  const retries = nginxMs('proxy_next_upstream_timeout')
  t.ok(LOGIN_RETRY_WINDOW_MS > retries, `login retry window ${LOGIN_RETRY_WINDOW_MS} ms > proxy_next_upstream_timeout ${retries} ms`)
})
