// The site on a Redis Cluster for one test: primaries each with a replica (harness/redis-cluster.ts), and nginx +
// replicas using it through REDIS_CLUSTER_NODES; stopped when the test ends, pass or fail.
import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Browser } from '../../harness/client.ts'
import type { LineListener } from '../../harness/processes.ts'
import { RedisClusterGroup } from '../../harness/redis-cluster.ts'
import type { TlsFiles } from '../../harness/self-signed-cert.ts'
import { aclRules, CLUSTER_ACL_RULES } from '../../services/session-store/acl.ts'
import { sessionKey } from '../../services/session-store/keys.ts'
import { startStack } from './stack.ts'
import { certificateFor, makeCertificates } from './tls.ts'

export interface ClusterStackOptions {
  env?: Record<string, string>
  primaries?: number
  /** Run the replicas as the least-privilege user of docs/security.md (created on every node), not as the default user. */
  acl?: boolean
  /** The nodes hand clients this hostname rather than their address (see RedisClusterOptions). */
  announceHostname?: string | ((node: number) => string)
  /**
   * TLS everywhere, verified: each node presents a certificate for its own announced hostname, from a test CA the
   * replicas are given (REDIS_TLS_CA_FILE); they find the nodes by those names.
   */
  tls?: boolean
  onLine?: LineListener
}

/**
 * A test CA in `dir` and, from it, a certificate for each name asked (one per name). Checks first that the names
 * resolve: on loopback, `*.localhost` needs nss-myhostname.
 */
async function clusterCertificates (dir: string, names: string[]) {
  for (const name of names) {
    await lookup(name).catch(err => {
      throw new Error(`${name} does not resolve (${err.code}): on Debian, \`apt-get install libnss-myhostname\` ` +
        'resolves localhost and *.localhost to loopback (it adds myhostname to the hosts line of /etc/nsswitch.conf)')
    })
  }
  mkdirSync(dir)
  const { ca } = makeCertificates(dir)
  const files = new Map<string, TlsFiles>()
  const certificate = (name: string) => files.get(name) ?? files.set(name, certificateFor(dir, name)).get(name)!
  return { dir, ca, certificate }
}

export async function startOnRedisCluster (t: Test, options: ClusterStackOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { announceHostname } = options
  const primaries = options.primaries ?? 3
  const hostname = (n: number) => typeof announceHostname === 'function' ? announceHostname(n) : announceHostname ?? 'localhost'
  const certs = options.tls
    ? await clusterCertificates(join(dir, 'certs'), Array.from({ length: primaries * 2 }, (_, i) => hostname(i + 1)))
    : undefined
  const group = await RedisClusterGroup.start({
    dir,
    primaries,
    // With TLS, the nodes go by name (`localhost` unless told): their certificates cannot name an address.
    announceHostname: certs ? hostname : announceHostname,
    tls: certs && { ca: certs.ca, certificate: n => certs.certificate(hostname(n)) }
  })
  t.teardown(async () => await group.stop())
  // With TLS, the URL gives only the scheme (and credentials): each node is checked against its own name.
  let redisUrl = certs ? `rediss://${hostname(1)}` : group.nodes[0]!.url
  if (options.acl) {
    const password = randomBytes(24).toString('base64url')
    await group.eachNode(async node => {
      await node.call('ACL', 'SETUSER', 'sessions', 'on', `>${password}`, ...aclRules('sess:').split(' '))
      await node.call('ACL', 'SETUSER', 'sessions', ...CLUSTER_ACL_RULES.split(' '))
    })
    redisUrl = certs ? `rediss://sessions:${password}@${hostname(1)}` : `redis://sessions:${password}@127.0.0.1:${group.nodes[0]!.port}`
  }
  const env = { REDIS_CLUSTER_NODES: group.addresses, ...(certs ? { REDIS_TLS_CA_FILE: certs.ca } : {}), ...options.env }
  const stack = await startStack(t, { redisUrl, env, onLine: options.onLine })
  return { group, stack, certs }
}

/** The Redis key of a browser's session (its cookie is `id.signature`). */
export function sessionKeyOf (browser: Browser): string {
  const cookie = decodeURIComponent(browser.cookies.get('sid') ?? '')
  return sessionKey('sess:', cookie.slice(0, cookie.lastIndexOf('.')))
}
