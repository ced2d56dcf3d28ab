// `npm start` as a user runs it (dist/harness/start.js), on free ports so that it never meets a developer's own
// running copy; stopped when the test ends, its output shown when the test failed.
import { join } from 'node:path'
import type { Test } from 'tap'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { freePort } from '../../harness/ports.ts'
import { ManagedProcess } from '../../harness/processes.ts'
import { scaled } from '../../harness/timeouts.ts'

/** Starts it with one replica and `env` on top; resolves once it prints its start table. Returns every line it printed. */
export async function npmStart (t: Test, env: Record<string, string>): Promise<string[]> {
  const output: string[] = []
  const start = new ManagedProcess('start', process.execPath, [join(PROJECT_ROOT, 'dist', 'harness', 'start.js')], {
    PATH: process.env.PATH,
    REPLICAS: '1',
    BASE_PORT: String(await freePort()),
    LB_PORT: String(await freePort()),
    LB_HTTPS_PORT: String(await freePort()),
    NGINX_STATUS_PORT: String(await freePort()),
    METRICS_BASE_PORT: String(await freePort()),
    ...env
  }, (_source, line) => output.push(line))
  t.teardown(async () => {
    if (!t.passing()) t.comment(output.join('\n'))
    await start.stop(scaled(15_000))
  })
  await start.waitForLine(/^Open http/, scaled(30_000))
  return output
}
