// The store's scripts as ioredis commands: sent by SHA (EVALSHA), the source re-sent when Redis answers NOSCRIPT.
import type { Result } from 'ioredis'
import type { RedisClient } from '../redis.ts'
import * as scripts from './scripts.ts'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    // `window`: "<not before>:<deadline>" in Redis time (epoch ms), outside which the script refuses
    // to run (see scripts.ts).
    sessionLoad(key: string, window: string, idleMs: number, increment?: string): Result<string[] | null, Context>
    sessionCreate(key: string, window: string, idleMs: number, maxAgeMs: number, ...fields: string[]): Result<number, Context>
    sessionPatch(key: string, window: string, setCount: number, ...fieldsThenDeletes: string[]): Result<number, Context>
    sessionIncrement(key: string, window: string, field: string, by: number): Result<number | null, Context>
    sessionDestroy(key: string, window: string, userField: string): Result<string | null, Context>
    sessionIndexAdd(key: string, window: string, sessionId: string, slackMs: number, maxAgeMs: number, maxPerUser: number, maxEvictions: number): Result<string[], Context>
    sessionIndexList(key: string, window: string, limit: number): Result<string[], Context>
    sessionLoginId(key: string, window: string, freshId: string, rememberMs: number): Result<string, Context>
  }
}

/** Defines the commands on a connection (or cluster client); each script takes exactly one key. */
export function defineSessionCommands (redis: RedisClient): void {
  const define = (name: string, lua: string) => redis.defineCommand(name, { numberOfKeys: 1, lua })
  define('sessionLoad', scripts.LOAD)
  define('sessionCreate', scripts.CREATE)
  define('sessionPatch', scripts.PATCH)
  define('sessionIncrement', scripts.INCREMENT)
  define('sessionDestroy', scripts.DESTROY)
  define('sessionIndexAdd', scripts.INDEX_ADD)
  define('sessionIndexList', scripts.INDEX_LIST)
  define('sessionLoginId', scripts.LOGIN_ID)
}
