// The least a Redis user needs to run this app: docs/security.md prints this line, and test/e2e/redis-access.test.ts
// runs the whole site as a user created with it.
import { keyPatterns } from './keys.ts'

/**
 * Connect (HELLO, CLIENT SETNAME, PING, INFO for ioredis' ready check and readiness' eviction-policy check, ROLE
 * behind Sentinel, QUIT), run the store's and the login rate limiter's scripts and the commands inside them, list
 * and end a user's sessions, WAIT for replicas, record a login's request id (SET); and only on keys under the prefix.
 */
export function aclRules (prefix: string): string {
  return `resetkeys ~${keyPatterns(prefix).all} resetchannels -@all ` +
    '+hello +client|setname +ping +info +role +quit +evalsha +eval +wait ' +
    '+time +exists +hget +hgetall +hmget +hset +hdel +hincrby +pexpireat +pexpiretime +del ' +
    '+zadd +zcard +zrange +zrem +zremrangebyscore +get +set +incr +pexpire +pttl'
}

/**
 * What a Redis Cluster client needs in addition: CLUSTER SLOTS (which node serves which slot, asked again after
 * a MOVED, a failover and every second) and CLUSTER INFO (ioredis' ready check), READONLY (ioredis sends it on
 * its connections to replicas) and READWRITE (when a replica it knows becomes a primary), ASKING (a slot being moved: the key is asked for on the node it moves to).
 * Users are per node: create this one on every node, replicas included (a replica may become a primary).
 */
export const CLUSTER_ACL_RULES = '+cluster|slots +cluster|info +readonly +readwrite +asking'

/** The line docs/security.md shows, with a placeholder password. */
export function aclSetUser (user: string, prefix: string): string {
  return `ACL SETUSER ${user} on >PASSWORD ${aclRules(prefix)}`
}
