// Finds the programs the harness runs (redis-server, nginx, …), and says exactly how to install one that is
// missing. Installing is a separate, explicit step (installMissing), taken only by the start command and CI.
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'

const SEARCH_PATH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter(Boolean)

/** Debian package that provides each binary (.ci/run installs the same list). */
const PACKAGES: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  nginx: 'nginx-light',
  'docker-compose': 'docker-compose',
  openssl: 'openssl',
  promtool: 'prometheus',
  faketime: 'faketime'
}

/** Homebrew's name, where it differs. */
const BREW: Record<string, string> = { 'redis-server': 'redis', 'redis-cli': 'redis', 'docker-compose': 'docker-compose' }

export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError'
}

function lookup (binary: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const candidate = join(dir, binary)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** The Debian package for a binary. */
export function packageOf (binary: string): string {
  return PACKAGES[binary] ?? binary
}

/** The commands that install these binaries, for a message. */
export function installCommand (binaries: string[]): string {
  const debian = [...new Set(binaries.map(packageOf))].join(' ')
  const brew = [...new Set(binaries.map(b => BREW[b] ?? b))].join(' ')
  return `sudo apt-get install -y ${debian}   (Debian/Ubuntu)\n                  brew install ${brew}   (macOS)`
}

const found = new Map<string, string>()

/** The binary's path; throws MissingBinaryError, with the command that installs it, when it is not there. */
export function findBinary (binary: string): string {
  const cached = found.get(binary)
  if (cached) return cached
  const path = lookup(binary)
  if (!path) {
    throw new MissingBinaryError(
      `${binary} is required but was not found on PATH or in /usr/sbin.\n` +
      `Install it with:  ${installCommand([binary])}`
    )
  }
  found.set(binary, path)
  return path
}

/**
 * Installs the Debian packages of whichever of these binaries are missing, with apt-get, when this process is
 * root on a Debian-like system. Otherwise throws MissingBinaryError naming the command to run.
 */
export function installMissing (binaries: string[], log: (line: string) => void = console.error): void {
  const missing = binaries.filter(b => !lookup(b))
  if (missing.length === 0) return
  if (process.getuid?.() !== 0 || !lookup('apt-get')) {
    throw new MissingBinaryError(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required but not installed.\n` +
      `Install with:  ${installCommand(missing)}`)
  }
  const packages = [...new Set(missing.map(packageOf))]
  log(`${missing.join(', ')} not found: installing ${packages.join(' ')} (apt-get install -y ${packages.join(' ')})`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env })
  for (const binary of missing) findBinary(binary)
}
