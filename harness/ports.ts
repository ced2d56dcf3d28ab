// Ports on 127.0.0.1. Replicas bind port 0 and report the port they got (harness/replicas.ts); redis-server and
// nginx cannot (0 means "do not listen" to Redis), so they get a port that was free a moment ago and, when
// something took it meanwhile, another.
import { createServer } from 'node:net'

/** A TCP port free on 127.0.0.1 right now (the OS picks it); nothing holds it for the caller. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

/** What redis-server and nginx say when their port is taken. */
export function isPortTaken (err: unknown): boolean {
  return /Address already in use/i.test(err instanceof Error ? err.message : String(err))
}

/**
 * `start(port)` on a free port, again on another when the port was taken before the server could bind it (two
 * runs side by side), up to `attempts` times. A port the caller chose is tried once: its owner wants that one.
 */
export async function startOnFreePort<T> (port: number | undefined, start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  if (port !== undefined) return await start(port)
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort())
    } catch (err) {
      if (attempt >= attempts || !isPortTaken(err)) throw err
    }
  }
}
