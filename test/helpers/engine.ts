// Says in a test file's output which engine it ran on (REDIS_ENGINE, harness/engines.ts), so each result of an
// engine matrix run is read against the right one. An engine that is not installed fails the file here, with the
// command that installs it.
import type { Test } from 'tap'
import { currentEngine, engineVersion } from '../../harness/engines.ts'

export function commentEngine (t: Test): void {
  const engine = currentEngine()
  t.comment(`engine: ${engine.name}, ${engineVersion(engine)}`)
}
