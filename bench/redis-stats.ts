// Redis' own count of the commands it ran (INFO commandstats): the benchmark's round trips per request.
import type { Redis } from 'ioredis'

/** Commands a client sends (each one a round trip here); the rest run inside scripts. */
export const CLIENT_COMMANDS = new Set(['evalsha', 'eval', 'get', 'set', 'setex', 'expire', 'del', 'mget', 'zrem', 'hmget', 'pexpiretime', 'ping', 'wait'])

/** Calls so far per command, as Redis counts them. */
export async function commandCalls (redis: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {}
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2])
  return calls
}

/** Client commands run between two `commandCalls` samples. */
export function clientCommandsBetween (before: Record<string, number>, after: Record<string, number>): number {
  return Object.entries(after).filter(([c]) => CLIENT_COMMANDS.has(c)).reduce((n, [c, calls]) => n + calls - (before[c] ?? 0), 0)
}
