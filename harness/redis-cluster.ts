// Redis Cluster on loopback, as managed services run it ("cluster mode enabled"): N primaries sharing the 16,384
// hash slots, each with a replica that takes over when it dies, joined with `redis-cli --cluster create
// --cluster-replicas 1`. Every node is append-only, like every Redis here. The harness can also move slots
// (reshard, rebalance) and add a shard, as an operator would with redis-cli. The replicas of the app find the
// nodes through REDIS_CLUSTER_NODES. With `tls`, clients speak TLS only to each node's TLS port, as on managed
// clusters with in-transit encryption; the harness itself keeps the plain port, on loopback, for its own checks.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Redis } from 'ioredis'
import { currentEngine } from './engines.ts'
import { startOnFreePort } from './ports.ts'
import { type LineListener, pollUntil } from './processes.ts'
import { RedisServer, withClient } from './redis-server.ts'
import type { TlsFiles } from './self-signed-cert.ts'
import { scaled } from './timeouts.ts'

const run = promisify(execFile)

export interface RedisClusterOptions {
  dir: string
  /** Primaries (default 3). */
  primaries?: number
  /** Replicas per primary (default 1; 0: primaries only). */
  replicasPerPrimary?: number
  /**
   * How long a node may be unreachable before the others declare it failed and its replica is promoted
   * (default 1000 ms; managed services use seconds to tens of seconds).
   */
  nodeTimeoutMs?: number
  /**
   * The hostname each node announces and hands to clients instead of its address
   * (`cluster-preferred-endpoint-type hostname`), as managed clusters with per-node TLS names do: one for all, or
   * one per node (numbered from 1, in start order).
   */
  announceHostname?: string | ((node: number) => string)
  /**
   * TLS on every node: clients, replication and the cluster bus. Each node presents its own certificate
   * (`certificate(n)`), signed by `ca`, which the nodes also trust from each other.
   */
  tls?: { ca: string, certificate: (node: number) => TlsFiles }
  /** Every node wants it (`--requirepass`; replicas use it with their primary too); the nodes' URLs carry it. */
  password?: string
  onLine?: LineListener
}

/** One node as the cluster sees it (CLUSTER NODES). */
export interface ClusterNodeInfo {
  id: string
  port: number
  role: 'primary' | 'replica'
  /** The primary's id, for a replica. */
  primaryId: string | null
  failed: boolean
  slots: number
}

export class RedisClusterGroup {
  readonly nodes: RedisServer[] = []
  readonly #options: RedisClusterOptions
  /** Each node's TLS port, with `tls`. */
  readonly #tlsPorts = new Map<RedisServer, number>()

  private constructor (options: RedisClusterOptions) {
    this.#options = options
  }

  static async start (options: RedisClusterOptions): Promise<RedisClusterGroup> {
    const group = new RedisClusterGroup(options)
    const primaries = options.primaries ?? 3
    const perPrimary = options.replicasPerPrimary ?? 1
    try {
      for (let i = 0; i < primaries * (1 + perPrimary); i++) await group.#startNode()
      // All on one host: redis-cli warns that replicas share their primary's host, and goes on.
      await group.#cli('--cluster', 'create', ...group.nodes.map(n => group.#address(n)),
        '--cluster-replicas', String(perPrimary), '--cluster-yes')
      await group.waitUntilHealthy()
      return group
    } catch (err) {
      await group.stop()
      throw err
    }
  }

  async #startNode (): Promise<RedisServer> {
    const n = this.nodes.length + 1
    const dir = join(this.#options.dir, `node-${n}`)
    const hostname = this.hostname(n)
    const { tls } = this.#options
    const certificate = tls?.certificate(n)
    // With tls-cluster the bus listens on the TLS port + 10000 (else the plain one's): a TLS port is picked again
    // when either was taken before the node could bind it, as RedisServer does for the plain port.
    const start = async (tlsPort: number | undefined) => await RedisServer.start({
      name: `redis-node-${n}`,
      dir,
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', String(this.#options.nodeTimeoutMs ?? 1000),
        // A shard without a live primary fails its own slots only: the other shards go on serving.
        '--cluster-require-full-coverage', 'no',
        // A replica takes over however long it had been cut off from its primary (the test kills primaries
        // under load; availability first, as managed services choose).
        '--cluster-replica-validity-factor', '0',
        ...(hostname
          // A name on loopback resolves to ::1 first, then 127.0.0.1 (nss-myhostname): served on both, as a
          // dual-stack host would be ('-': unless this machine has no IPv6).
          ? ['--cluster-announce-hostname', hostname, '--cluster-preferred-endpoint-type', 'hostname', '--bind', '127.0.0.1', '-::1']
          : []),
        ...(tls
          ? ['--tls-port', String(tlsPort), '--tls-cert-file', certificate!.cert, '--tls-key-file', certificate!.key,
              '--tls-ca-cert-file', tls.ca, '--tls-cluster', 'yes', '--tls-replication', 'yes',
              // Clients need no certificate of their own (managed services ask for none); one shown is verified.
              '--tls-auth-clients', 'optional']
          : []),
        ...(this.#options.password === undefined ? [] : ['--masterauth', this.#options.password])],
      password: this.#options.password,
      onLine: this.#options.onLine
    })
    const [node, tlsPort] = tls
      ? await startOnFreePort(undefined, async port => [await start(port), port] as const)
      : [await start(undefined), undefined]
    this.nodes.push(node)
    if (tlsPort) this.#tlsPorts.set(node, tlsPort)
    return node
  }

  /** The hostname node `n` (from 1) announces, if any. */
  hostname (n: number): string | undefined {
    const { announceHostname } = this.#options
    return typeof announceHostname === 'function' ? announceHostname(n) : announceHostname
  }

  /** A node's TLS port, with `tls`. */
  tlsPort (node: RedisServer): number | undefined {
    return this.#tlsPorts.get(node)
  }

  /**
   * REDIS_CLUSTER_NODES for the replicas: every node (any one is enough to discover the cluster). With TLS, each
   * node's name and TLS port: the name is what its certificate is checked against.
   */
  get addresses (): string {
    return this.nodes.map((node, i) => this.#options.tls ? `${this.hostname(i + 1) ?? '127.0.0.1'}:${this.tlsPort(node)}` : `127.0.0.1:${node.port}`).join(',')
  }

  /** How redis-cli reaches a node: over TLS when the nodes speak it (MIGRATE between them does). */
  #address (node: RedisServer): string {
    return `127.0.0.1:${this.tlsPort(node) ?? node.port}`
  }

  /** The nodes whose process runs. */
  get live (): RedisServer[] {
    return this.nodes.filter(n => n.process.alive)
  }

  /** Runs `fn` on each live node (per-node commands: DBSIZE, SCRIPT FLUSH, ACL SETUSER, …). */
  async eachNode<T> (fn: (node: Redis) => Promise<T>): Promise<T[]> {
    return await Promise.all(this.live.map(async server => await withClient(server.port, fn, server.password)))
  }

  /** The cluster as a live node sees it. */
  async topology (): Promise<ClusterNodeInfo[]> {
    const text = await withClient(this.live[0]!.port, async redis => await redis.cluster('NODES') as string, this.#options.password)
    return text.trim().split('\n').map(line => {
      const [id, address, flags, primaryId, , , , , ...slots] = line.split(' ')
      const slotCount = slots.filter(s => !s.startsWith('[')).reduce((sum, range) => {
        const [from, to = from] = range.split('-').map(Number)
        return sum + to! - from! + 1
      }, 0)
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address!)?.[1]),
        role: flags!.includes('master') ? 'primary' : 'replica',
        primaryId: primaryId === '-' ? null : primaryId!,
        failed: flags!.split(',').includes('fail'),
        slots: slotCount
      }
    })
  }

  /** The server of a cluster node. */
  server (info: { port: number }): RedisServer {
    return this.nodes.find(n => n.port === info.port)!
  }

  /** The primary that holds a key now. */
  async primaryFor (key: string): Promise<ClusterNodeInfo> {
    const slot = await withClient(this.live[0]!.port, async redis => await redis.cluster('KEYSLOT', key) as number, this.#options.password)
    const slots = await withClient(this.live[0]!.port, async redis => await redis.cluster('SLOTS'), this.#options.password)
    const owner = slots.find(([from, to]) => slot >= from && slot <= to)
    if (!owner) throw new Error(`no primary serves slot ${slot}`)
    return (await this.topology()).find(n => n.port === owner[2]?.[1])!
  }

  /**
   * Until every slot is served by a primary that every live node agrees on, each shard has its replicas, and no
   * slot is half-moved (`redis-cli --cluster check`).
   */
  async waitUntilHealthy (timeoutMs = scaled(20_000)): Promise<void> {
    await pollUntil('the cluster to be healthy', async () => {
      const states = await this.eachNode(async node => await node.cluster('INFO') as string)
      if (!states.every(info => info.includes('cluster_state:ok'))) return undefined
      // Every replica has had its primary's data and follows it (a WAIT counts only such replicas).
      const roles = await this.eachNode(async node => await node.info('replication'))
      if (roles.some(info => info.includes('role:slave') && !info.includes('master_link_status:up'))) return undefined
      const check = await this.#cli('--cluster', 'check', this.#address(this.live[0]!)).catch(() => undefined)
      return check && !/\[ERR\]|\[WARNING\]/.test(check) ? true : undefined
    }, timeoutMs, 100)
  }

  /** Moves `slots` slots from one primary to another (`redis-cli --cluster reshard`), keys and all. */
  async reshard (from: ClusterNodeInfo, to: ClusterNodeInfo, slots: number): Promise<void> {
    await this.#cli('--cluster', 'reshard', this.#address(this.live[0]!), '--cluster-from', from.id,
      '--cluster-to', to.id, '--cluster-slots', String(slots), '--cluster-yes', '--cluster-pipeline', '100')
  }

  /** Evens out the slots (`redis-cli --cluster rebalance`), new empty primaries included. */
  async rebalance (): Promise<void> {
    await this.#cli('--cluster', 'rebalance', this.#address(this.live[0]!), '--cluster-use-empty-masters',
      '--cluster-pipeline', '100')
  }

  /** A new shard: a primary with no slots yet (see rebalance) and its replica (`redis-cli --cluster add-node`). */
  async addShard (): Promise<ClusterNodeInfo> {
    const existing = this.#address(this.live[0]!)
    // add-node refuses (exit 1) while any node still disagrees on the slots, as just after a reshard or an earlier
    // add-node, before gossip has carried the change to every node: wait for the same check it runs.
    await this.waitUntilHealthy()
    const primary = await this.#startNode()
    await this.#cli('--cluster', 'add-node', this.#address(primary), existing)
    await this.waitUntilHealthy()
    const info = (await this.topology()).find(n => n.port === primary.port && n.role === 'primary')
    if (!info) throw new Error(`the new primary on port ${primary.port} is not in the cluster`)
    const replica = await this.#startNode()
    await this.#cli('--cluster', 'add-node', this.#address(replica), existing, '--cluster-slave', '--cluster-master-id', info.id)
    await this.waitUntilHealthy()
    return info
  }

  async #cli (...args: string[]): Promise<string> {
    // The password through the environment, not the command line, which any local user can read.
    const env = this.#options.password === undefined ? process.env : { ...process.env, REDISCLI_AUTH: this.#options.password, VALKEYCLI_AUTH: this.#options.password }
    const tls = this.#options.tls ? ['--tls', '--cacert', this.#options.tls.ca] : []
    const { stdout } = await run(currentEngine().cli, [...tls, ...args], { timeout: scaled(120_000), env })
    return stdout
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async node => await node.stop()))
  }
}
