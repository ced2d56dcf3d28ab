// Redis Cluster on loopback: three primaries (append-only, like every Redis here) sharing the 16,384 hash
// slots, joined with `redis-cli --cluster create`. A user's sessions and index land on different nodes, as they
// do in a managed cluster; the replicas find the nodes through REDIS_CLUSTER_NODES.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Redis } from 'ioredis'
import { findBinary } from './binaries.ts'
import { type LineListener, pollUntil } from './processes.ts'
import { RedisServer, withClient } from './redis-server.ts'
import { scaled } from './timeouts.ts'

export interface RedisClusterOptions {
  dir: string
  nodes?: number
  onLine?: LineListener
}

export class RedisClusterGroup {
  readonly nodes: RedisServer[]

  private constructor (nodes: RedisServer[]) {
    this.nodes = nodes
  }

  static async start (options: RedisClusterOptions): Promise<RedisClusterGroup> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 1; i <= (options.nodes ?? 3); i++) {
        const dir = join(options.dir, `node-${i}`)
        nodes.push(await RedisServer.start({
          name: `redis-node-${i}`,
          dir,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000'],
          onLine: options.onLine
        }))
      }
      await promisify(execFile)(findBinary('redis-cli'),
        ['--cluster', 'create', ...nodes.map(n => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'])
      const group = new RedisClusterGroup(nodes)
      await pollUntil('every node to see the cluster as ok', async () => {
        const states = await group.eachNode(async node => await node.cluster('INFO') as string)
        return states.every(info => info.includes('cluster_state:ok')) ? true : undefined
      }, scaled(15_000), 100)
      return group
    } catch (err) {
      await Promise.all(nodes.map(async node => await node.stop()))
      throw err
    }
  }

  /** REDIS_CLUSTER_NODES for the replicas. */
  get addresses (): string {
    return this.nodes.map(n => `127.0.0.1:${n.port}`).join(',')
  }

  /** Runs `fn` on each node (per-node commands: DBSIZE, SCRIPT FLUSH, …). */
  async eachNode<T> (fn: (node: Redis) => Promise<T>): Promise<T[]> {
    return await Promise.all(this.nodes.map(async server => await withClient(server.port, fn)))
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async node => await node.stop()))
  }
}
