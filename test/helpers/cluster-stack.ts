// The site on a Redis Cluster for one test: primaries each with a replica (harness/redis-cluster.ts), and nginx +
// replicas using it through REDIS_CLUSTER_NODES; stopped when the test ends, pass or fail.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Browser } from '../../harness/client.ts'
import type { LineListener } from '../../harness/processes.ts'
import { RedisClusterGroup } from '../../harness/redis-cluster.ts'
import { aclRules, CLUSTER_ACL_RULES } from '../../services/session-store/acl.ts'
import { sessionKey } from '../../services/session-store/keys.ts'
import { startStack } from './stack.ts'

export interface ClusterStackOptions {
  env?: Record<string, string>
  primaries?: number
  /** Run the replicas as the least-privilege user of docs/security.md (created on every node), not as the default user. */
  acl?: boolean
  /** The nodes hand clients this hostname rather than their address (see RedisClusterOptions). */
  announceHostname?: string
  onLine?: LineListener
}

export async function startOnRedisCluster (t: Test, options: ClusterStackOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const group = await RedisClusterGroup.start({ dir, primaries: options.primaries, announceHostname: options.announceHostname })
  t.teardown(async () => await group.stop())
  let redisUrl = group.nodes[0]!.url
  if (options.acl) {
    const password = randomBytes(24).toString('base64url')
    await group.eachNode(async node => {
      await node.call('ACL', 'SETUSER', 'sessions', 'on', `>${password}`, ...aclRules('sess:').split(' '))
      await node.call('ACL', 'SETUSER', 'sessions', ...CLUSTER_ACL_RULES.split(' '))
    })
    redisUrl = `redis://sessions:${password}@127.0.0.1:${group.nodes[0]!.port}`
  }
  const stack = await startStack(t, { redisUrl, env: { REDIS_CLUSTER_NODES: group.addresses, ...options.env }, onLine: options.onLine })
  return { group, stack }
}

/** The Redis key of a browser's session (its cookie is `id.signature`). */
export function sessionKeyOf (browser: Browser): string {
  const cookie = decodeURIComponent(browser.cookies.get('sid') ?? '')
  return sessionKey('sess:', cookie.slice(0, cookie.lastIndexOf('.')))
}
