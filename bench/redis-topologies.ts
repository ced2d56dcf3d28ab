// What each way of running Redis costs per request: the same replicas and nginx on one Redis, on Sentinel (a
// primary, a replica, three Sentinels) and on a Redis Cluster (three primaries, a replica each), measured with the
// benchmark's own scenarios in alternating rounds so that machine drift hits every topology alike. `WAIT 1`
// (SESSION_WAIT_REPLICAS=1, acknowledged logins survive a failover) is measured on both replicated topologies.
// Reports per request: requests/s, p99, the commands the replicas sent (EVALSHA and WAIT, counted by Redis on the
// primaries), the time the replicas waited on Redis (their own store histogram), and the CPU of the replicas and
// of every Redis process of the topology (replication and gossip included).
//   npm run bench:topologies -- [--duration 8] [--rounds 3] [--connections 32]  (or node dist/bench/redis-topologies.js)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Options } from 'autocannon'
import { LocalStack } from '../harness/local-stack.ts'
import { isMain, RUN_DIR } from '../harness/paths.ts'
import { exitWithChildrenOnSignals } from '../harness/processes.ts'
import { RedisClusterGroup } from '../harness/redis-cluster.ts'
import { type RedisServer, withClient } from '../harness/redis-server.ts'
import { SentinelGroup } from '../harness/sentinel.ts'
import { refuseAlongsideOtherLoadTests } from './alone.ts'
import { cpuSample } from './cpu.ts'
import { fire, unexpectedAnswers } from './fire.ts'
import { commandCalls } from './redis-stats.ts'
import { SCENARIOS } from './scenarios.ts'
import { median } from './summary.ts'

const USAGE = 'usage: node dist/bench/redis-topologies.js [--duration 8] [--rounds 3] [--connections 32]'
const progress = (line: string) => console.error(`[redis-topologies] ${line}`)

interface Measured { rps: number, p99: number, commands: number, storeWaitMs: number, replicaCpuUs: number, redisCpuUs: number }

interface Topology {
  name: string
  stack: LocalStack
  /** Every Redis process of the topology (CPU), and the servers whose commands are the replicas' round trips. */
  servers: RedisServer[]
  primaries: () => Promise<RedisServer[]>
  runs: Record<string, Measured[]>
}

const SCENARIO_NAMES = ['hot', 'login']
const scenarios = SCENARIO_NAMES.map(name => SCENARIOS.find(s => s.name === name)!)
const replicaEnv = { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0' }

/** What a replica sends: scripts and WAIT (the commands inside scripts are counted by Redis too, and are not sent). */
const SENT = new Set(['evalsha', 'eval', 'wait'])
const sent = (before: Record<string, number>, after: Record<string, number>) =>
  [...SENT].reduce((n, command) => n + (after[command] ?? 0) - (before[command] ?? 0), 0)

/** Seconds the replicas have spent waiting on Redis so far (the store's histogram, every operation). */
async function storeWaitSeconds (stack: LocalStack): Promise<number> {
  let seconds = 0
  for (const replica of stack.replicas) {
    const text = await (await fetch(replica.metricsUrl!)).text()
    for (const m of text.matchAll(/^session_store_operation_duration_seconds_sum\{[^}]*\} (\S+)$/gm)) seconds += Number(m[1])
  }
  return seconds
}

async function measure (topology: Topology, options: Partial<Options> & { url: string, expectStatus?: number }, seconds: number, connections: number): Promise<Measured> {
  const { expectStatus = 200, ...rest } = options
  const primaries = await topology.primaries()
  const groups = { replicas: topology.stack.replicas.map(r => r.pid), redis: topology.servers.map(s => s.process.pid) }
  const callsBefore = await Promise.all(primaries.map(async s => await withClient(s.port, commandCalls, s.password)))
  const waitBefore = await storeWaitSeconds(topology.stack)
  const cpuBefore = cpuSample(groups)
  const result = await fire({ connections, duration: seconds, ...rest })
  const cpuAfter = cpuSample(groups)
  const waitAfter = await storeWaitSeconds(topology.stack)
  const callsAfter = await Promise.all(primaries.map(async s => await withClient(s.port, commandCalls, s.password)))
  const unexpected = unexpectedAnswers(result, expectStatus)
  if (result.errors || result.timeouts || unexpected) throw new Error(`${topology.name}: ${result.errors + result.timeouts} errors, ${unexpected} answers other than ${expectStatus}`)
  const total = result.requests.total
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    commands: primaries.reduce((n, _, i) => n + sent(callsBefore[i]!, callsAfter[i]!), 0) / total,
    storeWaitMs: ((waitAfter - waitBefore) * 1000) / total,
    replicaCpuUs: ((cpuAfter.replicas! - cpuBefore.replicas!) * 1000) / total,
    redisCpuUs: ((cpuAfter.redis! - cpuBefore.redis!) * 1000) / total
  }
}

/** Measures every topology in alternating rounds, prints the table and writes the JSON summary to .run/bench/. */
export async function compareRedisTopologies ({ durationSeconds, rounds, connections }: { durationSeconds: number, rounds: number, connections: number }): Promise<void> {
  exitWithChildrenOnSignals()
  refuseAlongsideOtherLoadTests('redis-topologies')
  const dir = mkdtempSync(join(tmpdir(), 'redis-topologies-'))
  const topologies: Topology[] = []
  const groups: Array<{ stop: () => Promise<void> }> = []
  try {
    progress('starting one Redis')
    const single = await LocalStack.start({ env: replicaEnv, accessLog: 'off' })
    topologies.push({ name: 'one Redis', stack: single, servers: [single.redis!], primaries: async () => [single.redis!], runs: {} })

    progress('starting Sentinel: a primary, a replica, three Sentinels')
    const sentinel = await SentinelGroup.start({ dir: join(dir, 'sentinel') })
    groups.push(sentinel)
    const sentinelStack = await LocalStack.start({
      redisUrl: (await sentinel.primary()).url,
      env: { ...replicaEnv, REDIS_SENTINELS: sentinel.addresses, SESSION_WAIT_REPLICAS: '1' },
      accessLog: 'off'
    })
    topologies.push({ name: 'Sentinel, WAIT 1', stack: sentinelStack, servers: [...sentinel.servers, ...sentinel.sentinels], primaries: async () => [await sentinel.primary()], runs: {} })

    progress('starting a Redis Cluster: three primaries, a replica each')
    const cluster = await RedisClusterGroup.start({ dir: join(dir, 'cluster') })
    groups.push(cluster)
    const clusterPrimaries = async () => {
      const primaryPorts = new Set((await cluster.topology()).filter(n => n.role === 'primary' && !n.failed).map(n => n.port))
      return cluster.nodes.filter(n => primaryPorts.has(n.port))
    }
    for (const wait of ['0', '1']) {
      const stack = await LocalStack.start({
        redisUrl: cluster.nodes[0]!.url,
        env: { ...replicaEnv, REDIS_CLUSTER_NODES: cluster.addresses, SESSION_WAIT_REPLICAS: wait },
        accessLog: 'off'
      })
      topologies.push({ name: wait === '0' ? 'Cluster' : 'Cluster, WAIT 1', stack, servers: cluster.nodes, primaries: clusterPrimaries, runs: {} })
    }

    const prepared = new Map<Topology, Array<{ name: string, options: Awaited<ReturnType<typeof scenarios[number]['prepare']>> }>>()
    for (const topology of topologies) {
      progress(`preparing and warming up: ${topology.name}`)
      const list = []
      for (const scenario of scenarios) {
        const options = await scenario.prepare({ url: topology.stack.url }, connections)
        await measure(topology, options, 3, connections)
        list.push({ name: scenario.name, options })
      }
      prepared.set(topology, list)
    }
    for (let round = 1; round <= rounds; round++) {
      // Each round in another order: neither topology always follows the same one.
      const order = topologies.map((_, i) => topologies[(i + round - 1) % topologies.length]!)
      for (const topology of order) {
        for (const { name, options } of prepared.get(topology)!) {
          const run = await measure(topology, options, durationSeconds, connections)
          ;(topology.runs[name] ??= []).push(run)
          progress(`round ${round}/${rounds} ${topology.name.padEnd(16)} ${name.padEnd(5)} ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, ` +
            `${run.commands.toFixed(2)} commands, ${run.storeWaitMs.toFixed(2)} ms on Redis, replicas ${run.replicaCpuUs.toFixed(0)} µs, Redis ${run.redisCpuUs.toFixed(0)} µs CPU/request`)
        }
      }
    }
  } finally {
    await Promise.all(topologies.map(async t => await t.stack.stop()))
    await Promise.all(groups.map(async g => await g.stop()))
    rmSync(dir, { recursive: true, force: true })
  }

  const summary = topologies.map(t => ({
    topology: t.name,
    scenarios: Object.fromEntries(SCENARIO_NAMES.map(name => {
      const runs = t.runs[name]!
      const pick = (f: (m: Measured) => number) => median(runs.map(f))
      return [name, {
        rps: Math.round(pick(m => m.rps)),
        spread: [Math.round(Math.min(...runs.map(m => m.rps))), Math.round(Math.max(...runs.map(m => m.rps)))],
        p99: pick(m => m.p99),
        commands: Math.round(pick(m => m.commands) * 100) / 100,
        storeWaitMs: Math.round(pick(m => m.storeWaitMs) * 100) / 100,
        replicaCpuUs: Math.round(pick(m => m.replicaCpuUs)),
        redisCpuUs: Math.round(pick(m => m.redisCpuUs))
      }]
    }))
  }))
  const base = summary[0]!.scenarios
  const lines = [
    `Redis topologies: ${connections} connections, ${rounds} rounds of ${durationSeconds} s, medians; each × is against one Redis in the same run`,
    '',
    '| topology | scenario | req/s | × | p99 ms | commands sent | ms waiting on Redis | replicas\' CPU µs | Redis CPU µs (all nodes) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...summary.flatMap(({ topology, scenarios }) => SCENARIO_NAMES.map(name => {
      const s = scenarios[name]!
      return `| ${topology} | ${name} | ${s.rps} (${s.spread.join('–')}) | ${(s.rps / base[name]!.rps).toFixed(2)} | ${s.p99} | ${s.commands} | ${s.storeWaitMs} | ${s.replicaCpuUs} | ${s.redisCpuUs} |`
    }))
  ]
  console.log(lines.join('\n'))
  const out = join(RUN_DIR, 'bench')
  mkdirSync(out, { recursive: true })
  const file = join(out, `redis-topologies-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`)
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), settings: { connections, rounds, durationSeconds }, summary }, null, 2)}\n`)
  progress(`wrote ${file}`)
}

if (isMain(import.meta.url)) {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '32' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (args.help) console.log(USAGE)
  else await compareRedisTopologies({ durationSeconds: Number(args.duration), rounds: Number(args.rounds), connections: Number(args.connections) })
}
