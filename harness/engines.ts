// Which Redis-compatible engine the harness runs, chosen by REDIS_ENGINE: `host` (the default) is the redis-server
// and redis-cli on PATH; the others are the ones harness/install-engines.sh puts in REDIS_ENGINES_DIR
// (/opt/redis-engines), each a Debian package run from its own root file system. Every server and cli the harness
// starts comes from here, so one variable moves a whole stack (cluster, Sentinels, `npm start`) to another engine.
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { findBinary, MissingBinaryError } from './binaries.ts'

/** The engines the matrix runs (docs/testing.md, Engines tested); keep in step with harness/install-engines.sh. */
export const ENGINES = {
  host: { server: 'redis-server', cli: 'redis-cli' },
  'redis-8.0': { server: 'redis-server', cli: 'redis-cli' },
  'valkey-8.1': { server: 'valkey-server', cli: 'valkey-cli' },
  'valkey-9.1': { server: 'valkey-server', cli: 'valkey-cli' }
} as const

export type EngineName = keyof typeof ENGINES

export interface Engine {
  name: EngineName
  server: string
  cli: string
}

export function engineName (env: NodeJS.ProcessEnv = process.env): EngineName {
  const name = env.REDIS_ENGINE || 'host'
  if (!Object.hasOwn(ENGINES, name)) {
    throw new Error(`REDIS_ENGINE must be one of ${Object.keys(ENGINES).join(', ')} (got "${name}")`)
  }
  return name as EngineName
}

/** Where harness/install-engines.sh installs the engines (the same variable and default as the script's). */
export function enginesDir (env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_ENGINES_DIR || '/opt/redis-engines'
}

/** The command that installs an engine, for messages. */
export function engineInstallCommand (name: EngineName): string {
  return `sudo harness/install-engines.sh ${name}`
}

/** The engine's server and cli; throws MissingBinaryError, with the command that installs it, when it is not there. */
export function currentEngine (env: NodeJS.ProcessEnv = process.env): Engine {
  const name = engineName(env)
  const { server, cli } = ENGINES[name]
  if (name === 'host') return { name, server: findBinary(server), cli: findBinary(cli) }
  const bin = join(enginesDir(env), name, 'bin')
  const paths = { server: join(bin, server), cli: join(bin, cli) }
  try {
    for (const path of Object.values(paths)) accessSync(path, constants.X_OK)
  } catch {
    throw new MissingBinaryError(`REDIS_ENGINE=${name} is not installed (no ${paths.server} or ${paths.cli}).\n` +
      `Install it with:  ${engineInstallCommand(name)}`)
  }
  return { name, ...paths }
}

/** What the engine's server says it is, e.g. "Valkey server v=9.1.2 …" (for a test's comment). */
export function engineVersion (engine: Engine = currentEngine()): string {
  return execFileSync(engine.server, ['--version'], { encoding: 'utf8' }).trim()
}
