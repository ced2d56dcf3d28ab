// What `docker compose up` costs against the local path, in one run: nginx's own floor (/lb/health), a replica route
// with no session (/health/live) and the hot path (a logged-in GET /), through the compose stack's nginx (its upstream
// group resolves the service name while serving) and through the local fixed group (npm start's: Debian's nginx,
// replicas on loopback), in alternating rounds. Each path is judged against its own floor, which takes out what
// differs in front of nginx (Docker's published port); goal: on both routes, compose keeps at least 0.8 of the local
// path's ratio. Stand-ins are built from Debian's packages where the official images cannot be pulled.
// --quiet: no log line per request on either path (nginx's access log off, the replicas at warn), which shows what
// Docker's log pipeline costs.
//   npm run bench:compose -- [--duration 8] [--rounds 3] [--connections 32] [--quiet] [--data-root DIR]
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Options } from 'autocannon'
import { Browser } from '../harness/client.ts'
import { ComposeProject } from '../harness/docker/compose.ts'
import { DockerEngine } from '../harness/docker/engine.ts'
import { composeImages } from '../harness/docker/standins.ts'
import { LocalStack } from '../harness/local-stack.ts'
import { isMain, RUN_DIR } from '../harness/paths.ts'
import { freePort } from '../harness/ports.ts'
import { exitWithChildrenOnSignals, pollUntil } from '../harness/processes.ts'
import { refuseAlongsideOtherLoadTests } from './alone.ts'
import { fire, unexpectedAnswers } from './fire.ts'
import { SCENARIOS } from './scenarios.ts'
import { median } from './summary.ts'

const USAGE = 'usage: node dist/bench/compose.js [--duration 8] [--rounds 3] [--connections 32] [--quiet] [--data-root DIR]'
const progress = (line: string) => console.error(`[compose] ${line}`)

/** A path's ratio to its own floor may fall to this share of the local path's, no lower. */
export const COMPOSE_GOAL = 0.8
const SCENARIO_NAMES = ['floor-nginx', 'floor-app', 'hot'] as const
type ScenarioName = typeof SCENARIO_NAMES[number]

interface Path { name: string, url: string, runs: Partial<Record<ScenarioName, Array<{ rps: number, p99: number }>>> }

async function measure (path: Path, options: Partial<Options> & { url: string, expectStatus?: number }, seconds: number, connections: number) {
  const { expectStatus = 200, ...rest } = options
  const result = await fire({ connections, duration: seconds, ...rest })
  const unexpected = unexpectedAnswers(result, expectStatus)
  if (result.errors || result.timeouts || unexpected) throw new Error(`${path.name}: ${result.errors + result.timeouts} errors, ${unexpected} answers other than ${expectStatus}`)
  return { rps: result.requests.average, p99: result.latency.p99 }
}

export async function compareCompose ({ durationSeconds, rounds, connections, quiet, dataRoot }: { durationSeconds: number, rounds: number, connections: number, quiet: boolean, dataRoot?: string }): Promise<boolean> {
  exitWithChildrenOnSignals()
  refuseAlongsideOtherLoadTests('compose')
  const engine = await DockerEngine.open({ dataRoot })
  let project: ComposeProject | undefined
  let local: LocalStack | undefined
  const paths: Path[] = []
  // The quiet run's settings, on top of docker-compose.yml.
  const overrideDir = mkdtempSync(join(tmpdir(), 'bench-compose-'))
  const override = join(overrideDir, 'quiet.yml')
  writeFileSync(override, JSON.stringify({ services: { nginx: { environment: { NGINX_ACCESS_LOG: 'off' } }, app: { environment: { LOG_LEVEL: 'warn' } } } }))
  const files = quiet ? ['-f', override] : []
  let images: Awaited<ReturnType<typeof composeImages>> | undefined
  try {
    images = await composeImages(engine, progress)
    const port = await freePort()
    project = new ComposeProject(engine, `rsr-bench-${randomBytes(4).toString('hex')}`, {
      ...images,
      LB_PORT: `127.0.0.1:${port}`,
      LB_HTTPS_PORT: `127.0.0.1:${await freePort()}`,
      // The benchmark logs in one user per connection from one address.
      LOGIN_RATE_LIMIT: '0'
    })
    progress(`docker compose up -d --build (${images.NGINX_IMAGE}, ${images.NODE_IMAGE}, ${images.REDIS_IMAGE})`)
    await project.compose([...files, 'up', '-d', '--build'], { timeoutMs: 900_000 })
    const composeUrl = `http://127.0.0.1:${port}`
    await pollUntil('every compose replica to serve through nginx', async () => {
      const seen = new Set<string | null>()
      for (let i = 0; i < 30; i++) seen.add((await new Browser(composeUrl).get('/health/live')).servedBy)
      return [...seen].filter(name => /^app-\d$/.test(name ?? '')).length === 3 ? true : undefined
    }, 120_000, 500)
    paths.push({ name: 'compose', url: composeUrl, runs: {} })

    progress('starting the local path: three replicas, Redis and nginx on loopback')
    // As compose runs them: a log line per request from each replica and from nginx (unless quiet).
    local = await LocalStack.start({ env: { LOGIN_RATE_LIMIT: '0', ...(quiet ? { LOG_LEVEL: 'warn' } : {}) }, accessLog: quiet ? 'off' : 'file' })
    paths.push({ name: 'local', url: local.url, runs: {} })

    const prepared = new Map<Path, Array<{ name: ScenarioName, options: Awaited<ReturnType<typeof SCENARIOS[number]['prepare']>> }>>()
    for (const path of paths) {
      progress(`preparing and warming up: ${path.name}`)
      const list = []
      for (const name of SCENARIO_NAMES) {
        const options = await SCENARIOS.find(s => s.name === name)!.prepare({ url: path.url }, connections)
        await measure(path, options, 3, connections)
        list.push({ name, options })
      }
      prepared.set(path, list)
    }
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? paths : [...paths].reverse()
      for (const path of order) {
        for (const { name, options } of prepared.get(path)!) {
          const run = await measure(path, options, durationSeconds, connections)
          ;(path.runs[name] ??= []).push(run)
          progress(`round ${round}/${rounds} ${path.name.padEnd(7)} ${name.padEnd(11)} ${Math.round(run.rps)} req/s, p99 ${run.p99} ms`)
        }
      }
    }
  } finally {
    await local?.stop()
    await project?.compose([...files, 'down', '-v', '--remove-orphans', '--timeout', '20'], { timeoutMs: 180_000 }).catch(err => progress(`down failed: ${String(err)}`))
    await engine.close()
    rmSync(overrideDir, { recursive: true, force: true })
  }

  const summary = paths.map(path => ({
    path: path.name,
    ...Object.fromEntries(SCENARIO_NAMES.map(name => [name, { rps: Math.round(median(path.runs[name]!.map(r => r.rps))), p99: median(path.runs[name]!.map(r => r.p99)) }]))
  })) as Array<{ path: string } & Record<ScenarioName, { rps: number, p99: number }>>
  const [compose, local_] = summary as [typeof summary[number], typeof summary[number]]
  const ratio = (s: typeof compose, name: ScenarioName) => s[name].rps / s['floor-nginx'].rps
  const goals = (['floor-app', 'hot'] as const).map(name => ({ name, share: ratio(compose, name) / ratio(local_, name) }))
  console.log([
    `Compose against the local path${quiet ? ', no log line per request' : ''}: ${connections} connections, ${rounds} rounds of ${durationSeconds} s, medians; × is against the path's own floor (nginx answering by itself)`,
    '',
    '| path | scenario | req/s | × floor | p99 ms |',
    '| --- | --- | ---: | ---: | ---: |',
    ...summary.flatMap(s => SCENARIO_NAMES.map(name => `| ${s.path} | ${name} | ${s[name].rps} | ${ratio(s, name).toFixed(2)} | ${s[name].p99} |`)),
    '',
    ...goals.map(g => `${g.name}: compose keeps ${g.share.toFixed(2)} of the local path's ratio to its floor (goal ≥ ${COMPOSE_GOAL}): ${g.share >= COMPOSE_GOAL ? 'met' : 'MISSED'}`)
  ].join('\n'))
  const out = join(RUN_DIR, 'bench')
  mkdirSync(out, { recursive: true })
  const file = join(out, `compose-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`)
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), settings: { connections, rounds, durationSeconds, quiet }, images, summary, goals }, null, 2)}\n`)
  progress(`wrote ${file}`)
  return goals.every(g => g.share >= COMPOSE_GOAL)
}

if (isMain(import.meta.url)) {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '32' },
      quiet: { type: 'boolean', default: false },
      'data-root': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (args.help) console.log(USAGE)
  else if (!await compareCompose({ durationSeconds: Number(args.duration), rounds: Number(args.rounds), connections: Number(args.connections), quiet: args.quiet, dataRoot: args['data-root'] })) process.exitCode = 1
}
