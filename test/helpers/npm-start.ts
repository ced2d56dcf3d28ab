// `npm start` as a user runs it (dist/harness/start.js), on free ports and with a run directory of its own, so that
// it never meets a developer's running copy and leaves nothing in .run/; stopped when the test ends, its output
// shown when the test failed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { freePort } from '../../harness/ports.ts'
import { ManagedProcess } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'

/**
 * Starts it with one replica and `env` on top; resolves once it prints its start table. Returns every line it printed.
 * The run directory (env.RUN_DIR, or a temporary one) is removed once it has stopped, never while it runs.
 */
export async function npmStart (t: Test, env: Record<string, string>): Promise<string[]> {
  const runDir = env.RUN_DIR ?? mkdtempSync(join(tmpdir(), 'npm-start-'))
  const output: string[] = []
  const start = new ManagedProcess('start', process.execPath, [join(PROJECT_ROOT, 'dist', 'harness', 'start.js')], {
    PATH: process.env.PATH,
    REPLICAS: '1',
    BASE_PORT: String(await freePort()),
    LB_PORT: String(await freePort()),
    LB_HTTPS_PORT: String(await freePort()),
    NGINX_STATUS_PORT: String(await freePort()),
    METRICS_BASE_PORT: String(await freePort()),
    RUN_DIR: runDir,
    ...env
  }, (_source, line) => output.push(line))
  t.teardown(async () => {
    if (!t.passing()) t.comment(output.join('\n'))
    await start.stop(scaled(15_000))
    rmSync(runDir, { recursive: true, force: true })
  })
  await start.waitForLine(/^Open http/, scaled(30_000))
  return output
}
