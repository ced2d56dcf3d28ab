// Finds redis-server and nginx; on a fresh Debian machine, as root, installs them with apt-get.
// Elsewhere it says exactly what is missing and how to get it.
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'

const SEARCH_PATH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter(Boolean)

/** Debian package that provides each binary. */
const PACKAGES: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  nginx: 'nginx-light',
  'docker-compose': 'docker-compose',
  promtool: 'prometheus'
}

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

const found = new Map<string, string>()

export function findBinary (binary: keyof typeof PACKAGES | string, log: (line: string) => void = console.error): string {
  const cached = found.get(binary)
  if (cached) return cached
  let path = lookup(binary)
  const pkg = PACKAGES[binary] ?? binary
  if (!path && process.getuid?.() === 0 && lookup('apt-get')) {
    log(`${binary} not found: installing the Debian package ${pkg} (apt-get install -y ${pkg})`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'inherit', env })
    path = lookup(binary)
  }
  if (!path) {
    throw new MissingBinaryError(
      `${binary} is required but was not found on PATH or in /usr/sbin.\n` +
      `Install it with:  sudo apt-get install -y ${pkg}   (Debian/Ubuntu)\n` +
      `                  brew install ${binary === 'redis-server' ? 'redis' : binary}   (macOS)`
    )
  }
  found.set(binary, path)
  return path
}
