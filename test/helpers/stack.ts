// Starts the real topology (harness/local-stack.ts) for one test and stops it when the test ends, pass or fail.
// On failure, the last lines each process printed are attached to the test's diagnostics.
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { LocalStack, type LocalStackOptions } from '../../harness/local-stack.ts'
import { exitWithChildrenOnSignals } from '../../harness/processes.ts'

export async function startStack (t: Test, options: LocalStackOptions = {}): Promise<LocalStack> {
  // A test run stopped by a signal still stops the processes its stacks started.
  exitWithChildrenOnSignals()
  const log: string[] = []
  const stack = await LocalStack.start({
    ...options,
    // Tests log in many times from one address: the login rate limit is off unless a test sets it.
    env: { LOG_LEVEL: 'warn', LOGIN_RATE_LIMIT: '0', ...options.env },
    onLine: (source, line) => {
      log.push(`${source} | ${line}`)
      if (log.length > 200) log.shift()
      options.onLine?.(source, line, 'stdout')
    }
  })
  t.teardown(async () => {
    if (!t.passing()) t.comment(`last process output:\n${log.slice(-60).join('\n')}`)
    await stack.stop()
  })
  return stack
}

/** A Redis connection for the test's own checks, closed when the test ends. */
export function redisClient (t: Test, url: string): Redis {
  const redis = new Redis(url)
  t.teardown(async () => { await redis.quit() })
  return redis
}
