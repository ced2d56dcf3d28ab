// The store's scripts as ioredis commands: sent by SHA (EVALSHA), the source re-sent when Redis answers NOSCRIPT.
import type { Result } from 'ioredis'
import type { RedisClient } from '../redis.ts'
import * as scripts from './scripts.ts'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    // `deadline`: Redis time (epoch ms) past which the script refuses to run (see scripts.ts).
    sessionLoad(key: string, deadline: number, idleMs: number, increment?: string): Result<string[] | null, Context>
    sessionCreate(key: string, deadline: number, idleMs: number, maxAgeMs: number, ...fields: string[]): Result<number, Context>
    sessionPatch(key: string, deadline: number, setCount: number, ...fieldsThenDeletes: string[]): Result<number, Context>
    sessionIncrement(key: string, deadline: number, field: string, by: number): Result<number | null, Context>
    sessionDestroy(key: string, deadline: number, userField: string): Result<string | null, Context>
    sessionIndexAdd(key: string, deadline: number, sessionId: string, slackMs: number, maxAgeMs: number, maxPerUser: number, maxEvictions: number): Result<string[], Context>
    sessionIndexList(key: string, deadline: number, limit: number): Result<string[], Context>
    sessionLoginId(key: string, deadline: number, freshId: string, rememberMs: number): Result<string, Context>
    sessionLoginIdForget(key: string, deadline: number, sessionId: string): Result<number, Context>
    sessionIndexRemove(key: string, deadline: number, sessionId: string): Result<number, Context>
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
  define('sessionLoginIdForget', scripts.LOGIN_ID_FORGET)
  define('sessionIndexRemove', scripts.INDEX_REMOVE)
}
