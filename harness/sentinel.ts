// Redis with automatic failover on loopback: a primary, a replica and three Sentinels (`redis-server
// --sentinel`), the shape of a managed "Multi-AZ with auto-failover" Redis. The replicas find the primary
// through the Sentinels (REDIS_SENTINELS), never by its address.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type LineListener, pollUntil } from './processes.ts'
import { RedisServer, withClient } from './redis-server.ts'
import { scaled } from './timeouts.ts'

export interface SentinelGroupOptions {
  dir: string
  /** The name the Sentinels monitor the primary under (REDIS_SENTINEL_NAME). */
  name?: string
  /** How long the primary must be silent before it is declared down. */
  downAfterMs?: number
  onLine?: LineListener
}

export class SentinelGroup {
  readonly name: string
  readonly servers: RedisServer[]
  readonly sentinels: RedisServer[]

  private constructor (name: string, servers: RedisServer[], sentinels: RedisServer[]) {
    this.name = name
    this.servers = servers
    this.sentinels = sentinels
  }

  static async start (options: SentinelGroupOptions): Promise<SentinelGroup> {
    const name = options.name ?? 'mymaster'
    const started: RedisServer[] = []
    try {
      const primary = await RedisServer.start({ name: 'redis-primary', dir: join(options.dir, 'primary'), onLine: options.onLine })
      started.push(primary)
      const replica = await RedisServer.start({
        name: 'redis-replica',
        dir: join(options.dir, 'replica'),
        args: ['--replicaof', '127.0.0.1', String(primary.port)],
        onLine: options.onLine
      })
      started.push(replica)
      await pollUntil('the replica to sync', async () =>
        /master_link_status:up/.test(await info(replica.port, 'replication')) ? true : undefined, scaled(10_000))

      const sentinels = await Promise.all([1, 2, 3].map(async i => {
        const dir = join(options.dir, `sentinel-${i}`)
        const config = join(options.dir, `sentinel-${i}.conf`)
        // Sentinel rewrites its config file as it learns the topology: each gets its own.
        writeFileSync(config, [
          `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          // An election lost to split votes (three Sentinels that start together) is tried again after twice this:
          // 10 s, inside the tests' 20 s wait for a promotion. The compose file uses the same.
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          ''
        ].join('\n'))
        const sentinel = await RedisServer.start({ name: `sentinel-${i}`, dir, sentinelConfig: config, onLine: options.onLine })
        started.push(sentinel)
        return sentinel
      }))
      const group = new SentinelGroup(name, [primary, replica], sentinels)
      // Ready once every Sentinel knows the replica: only then can it fail over.
      await pollUntil('the Sentinels to find the replica', async () => {
        const counts = await Promise.all(sentinels.map(async s => await sentinelCall(s.port, 'REPLICAS', name) as unknown[]))
        return counts.every(replicas => replicas.length === 1) ? true : undefined
      }, scaled(15_000), 100)
      return group
    } catch (err) {
      await Promise.all(started.map(async s => await s.kill()))
      throw err
    }
  }

  /** For REDIS_SENTINELS. */
  get addresses (): string {
    return this.sentinels.map(s => `127.0.0.1:${s.port}`).join(',')
  }

  /** The server the Sentinels currently name primary. */
  async primary (): Promise<RedisServer> {
    const [, port] = await sentinelCall(this.sentinels[0]!.port, 'GET-MASTER-ADDR-BY-NAME', this.name) as [string, string]
    const server = this.servers.find(s => s.port === Number(port))
    if (!server) throw new Error(`the Sentinels name an unknown primary on port ${port}`)
    return server
  }

  async stop (): Promise<void> {
    await Promise.all([...this.sentinels, ...this.servers].map(async s => await s.stop().catch(async () => await s.kill())))
  }
}

export async function info (port: number, section: string): Promise<string> {
  return await withClient(port, async redis => await redis.info(section))
}

async function sentinelCall (port: number, ...args: string[]): Promise<unknown> {
  return await withClient(port, async redis => await redis.call('SENTINEL', ...args))
}
