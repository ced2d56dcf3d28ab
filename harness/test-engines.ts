// `npm run test:engines [engine…]`: the store's tests once per engine (docs/testing.md, Engines tested): the engines
// named, or REDIS_ENGINE's, or every engine of harness/engines.ts. Each run is tap with REDIS_ENGINE set, so the
// whole stack of every test (cluster nodes, `npm start` included) runs on that engine. Ends with a line per engine and a total, and fails when
// any engine's run failed or an engine is not installed (named with the command that installs it).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { MissingBinaryError } from './binaries.ts'
import { currentEngine, type EngineName, engineName, engineVersion, ENGINES } from './engines.ts'
import { PROJECT_ROOT } from './paths.ts'

/** The files that exercise the store itself: its own tier (test/store), and the e2e files for scripts, concurrency, failures, limits, cluster. */
export const STORE_TEST_FILES = [
  ...readdirSync(join(PROJECT_ROOT, 'dist', 'test', 'store')).filter(name => name.endsWith('.test.js')).sort()
    .map(name => join(PROJECT_ROOT, 'dist', 'test', 'store', name)),
  ...['session-store', 'session-store-api', 'failure', 'hardening', 'redis-cluster']
    .map(name => join(PROJECT_ROOT, 'dist', 'test', 'e2e', `${name}.test.js`))
]

// Engines named on the command line, else the one REDIS_ENGINE names, else all of them.
const names = process.argv.length > 2
  ? process.argv.slice(2).map(name => engineName({ REDIS_ENGINE: name }))
  : process.env.REDIS_ENGINE ? [engineName()] : Object.keys(ENGINES) as EngineName[]

const missing = names.flatMap(name => {
  try {
    currentEngine({ ...process.env, REDIS_ENGINE: name })
    return []
  } catch (err) {
    if (err instanceof MissingBinaryError) return [err.message]
    throw err
  }
})
if (missing.length > 0) {
  console.error(missing.join('\n'))
  process.exit(1)
}

const rows: string[] = []
let passed = 0
let failed = 0
// Stopped (Ctrl-C, a CI timeout): the running tap, its test files and the servers they started all get the signal
// (tap runs in a process group of its own), and no other engine starts. tap alone would wait for its test file to
// end, or, told twice, leave it running.
let tap: ReturnType<typeof spawn> | undefined
let stoppedBy: NodeJS.Signals | undefined
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    stoppedBy = signal
    if (tap?.pid !== undefined && tap.exitCode === null) process.kill(-tap.pid, signal)
  })
}
for (const name of names) {
  if (stoppedBy) break
  const env = { ...process.env, REDIS_ENGINE: name }
  const version = engineVersion(currentEngine(env))
  console.log(`\n=== ${name}: ${version}`)
  const started = performance.now()
  const child = spawn(join(PROJECT_ROOT, 'node_modules', '.bin', 'tap'), STORE_TEST_FILES, { env, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  tap = child
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk)
    output += chunk.toString()
  })
  const [code] = await once(child, 'exit') as [number | null]
  const minutes = ((performance.now() - started) / 60_000).toFixed(1)
  // tap's closing summary: `# { total: 60, pass: 60 }`, with `fail: n` when some failed.
  const summary = output.split('\n').findLast(line => line.startsWith('# { total: ')) ?? ''
  const pass = Number(/pass: (\d+)/.exec(summary)?.[1] ?? 0)
  // A run that failed without a count (a file that crashed) still counts as a failure.
  const fail = Math.max(code === 0 ? 0 : 1, Number(/fail: (\d+)/.exec(summary)?.[1] ?? 0))
  passed += pass
  failed += fail
  rows.push(`${name.padEnd(11)} ${version.split(' sha=')[0]!.padEnd(26)} ${String(pass).padStart(4)} passed ${String(fail).padStart(3)} failed ${minutes.padStart(5)} min`)
}
console.log(`\n${rows.join('\n')}\nengines: ${passed} passed, ${failed} failed`)
process.exit(stoppedBy !== undefined || failed > 0 ? 1 : 0)
