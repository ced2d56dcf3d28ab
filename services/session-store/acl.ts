// The least a Redis user needs to run this app: the README prints this line, and test/e2e/redis-access.test.ts
// runs the whole site as a user created with it.
import { keyPatterns } from './keys.ts'

/**
 * Connect (HELLO, CLIENT SETNAME, PING, INFO for ioredis' ready check, ROLE behind Sentinel, QUIT), run the
 * store's and the login rate limiter's scripts and the commands inside them, list and end a user's sessions, WAIT
 * for replicas; and only on keys under the prefix.
 */
export function aclRules (prefix: string): string {
  return `resetkeys ~${keyPatterns(prefix).all} resetchannels -@all ` +
    '+hello +client|setname +ping +info +role +quit +evalsha +eval +wait ' +
    '+time +exists +hget +hgetall +hmget +hset +hdel +hincrby +pexpireat +pexpiretime +del ' +
    '+zadd +zcard +zrange +zrem +zremrangebyscore +get +incr +pexpire +pttl'
}

/** The README's line, with a placeholder password. */
export function aclSetUser (user: string, prefix: string): string {
  return `ACL SETUSER ${user} on >PASSWORD ${aclRules(prefix)}`
}
