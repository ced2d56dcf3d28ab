// The store's scripts as ioredis commands: sent by SHA (EVALSHA), the source re-sent when Redis answers NOSCRIPT.
import type { Result } from 'ioredis'
import type { RedisClient } from '../redis.ts'
import * as scripts from './scripts.ts'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    // `window`: "<not before>:<deadline>" in Redis time (epoch ms), outside which the script refuses
    // to run (see scripts.ts).
    sessionLoad(key: string, window: string, idleMs: number, increment?: string): Result<string[] | null, Context>
    sessionCreate(key: string, endedKey: string, window: string, idleMs: number, maxAgeMs: number, ...fields: string[]): Result<number, Context>
    sessionPatch(key: string, window: string, setCount: number, ...fieldsThenDeletes: string[]): Result<number, Context>
    sessionIncrement(key: string, window: string, field: string, by: number): Result<number | null, Context>
    sessionDestroy(key: string, endedKey: string, window: string, userField: string, retryWindowMs: number): Result<string | null, Context>
    sessionIndexAdd(key: string, window: string, sessionId: string, slackMs: number, maxAgeMs: number, maxPerUser: number, maxEvictions: number): Result<string[], Context>
    sessionIndexList(key: string, window: string, limit: number): Result<string[], Context>
    sessionLoginId(key: string, window: string, freshId: string, rememberMs: number, user: string): Result<string, Context>
    sessionLoginIdForget(key: string, window: string, sessionId: string): Result<number, Context>
    sessionIndexRemove(key: string, window: string, sessionId: string): Result<number, Context>
  }
}

/** Defines the commands on a connection (or cluster client); a script's keys all share one hash slot. */
export function defineSessionCommands (redis: RedisClient): void {
  const define = (name: string, lua: string, numberOfKeys = 1) => redis.defineCommand(name, { numberOfKeys, lua })
  define('sessionLoad', scripts.LOAD)
  define('sessionCreate', scripts.CREATE, 2)
  define('sessionPatch', scripts.PATCH)
  define('sessionIncrement', scripts.INCREMENT)
  define('sessionDestroy', scripts.DESTROY, 2)
  define('sessionIndexAdd', scripts.INDEX_ADD)
  define('sessionIndexList', scripts.INDEX_LIST)
  define('sessionLoginId', scripts.LOGIN_ID)
  define('sessionLoginIdForget', scripts.LOGIN_ID_FORGET)
  define('sessionIndexRemove', scripts.INDEX_REMOVE)
}
