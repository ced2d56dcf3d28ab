// `npm run restart:rolling`: asks the running `npm start` to restart its replicas one by one (SIGHUP to its
// launcher) and follows each step here, from the launcher's record in .run/rolling-restart.log. Fails clearly when
// no stack runs, and exits non-zero when the restart fails.
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { LAUNCHER_PID_FILE, ROLLING_RESTART_LOG } from './paths.ts'
import { scaled } from './timeouts.ts'

function fail (message: string): never {
  console.error(`restart:rolling: ${message}`)
  process.exit(1)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, it is someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

if (!existsSync(LAUNCHER_PID_FILE)) fail('no stack is running here (no .run/launcher.pid). Start one with `npm start`.')
const pid = Number(readFileSync(LAUNCHER_PID_FILE, 'utf8'))
if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
  fail(`the stack that wrote .run/launcher.pid (pid ${pid}) is not running any more. Start one with \`npm start\`.`)
}

rmSync(ROLLING_RESTART_LOG, { force: true })
process.kill(pid, 'SIGHUP')
console.log(`Rolling restart: SIGHUP sent to npm start (pid ${pid}). Its steps follow (also in .run/rolling-restart.log and npm start's output):`)

// Each replica takes a few seconds to drain and come back; a deadline keeps this from waiting forever.
const deadline = Date.now() + scaled(120_000)
let shown = 0
while (true) {
  const lines = existsSync(ROLLING_RESTART_LOG) ? readFileSync(ROLLING_RESTART_LOG, 'utf8').split('\n').filter(Boolean) : []
  for (const line of lines.slice(shown)) {
    console.log(`  ${line}`)
    if (/^done\b/.test(line)) process.exit(0)
    if (/^failed\b/.test(line)) process.exit(1)
  }
  shown = lines.length
  if (!alive(pid)) fail(`npm start (pid ${pid}) exited during the restart.`)
  if (Date.now() > deadline) fail('no result after 2 minutes (times TIMEOUT_SCALE); see npm start\'s output.')
  await sleep(200)
}
