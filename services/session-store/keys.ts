// Key names and the public handle: the one place that spells them (the tests and the benchmark import these).
import { createHash } from 'node:crypto'

/**
 * A session id: 24 random bytes in base64url, 32 characters (fastify-adapter.ts' generator, like @fastify/session's
 * own); anything else never becomes part of a key.
 */
export const SESSION_ID = /^[A-Za-z0-9_-]{32}$/

/** Hash fields the store keeps for itself: a user field may not start with '@'. */
export const CREATED_FIELD = '@c'
export const DEADLINE_FIELD = '@x'
/** Last seen, kept only in a session's final idle window (scripts.ts). */
export const LAST_SEEN_FIELD = '@s'

/**
 * The prefix, if it leaves the store's hash tags alone; else `fail`'s error (config.ts makes it a configuration error).
 * Redis Cluster hashes only what is inside the first `{…}` of a key: a brace in the prefix would make part of the
 * prefix the tag, and send a session and its ended marker to different slots (CROSSSLOT), or every key to one node.
 */
export function checkedKeyPrefix (prefix: string, fail = (message: string): Error => new Error(message)): string {
  if (/[{}]/.test(prefix)) {
    throw fail(`SESSION_KEY_PREFIX=${prefix} may not contain "{" or "}": the store puts each session id in braces (a Redis Cluster hash tag), and a brace in the prefix would change which part of a key Redis Cluster hashes`)
  }
  return prefix
}

/** A session's key: its id in a hash tag, so all its keys share one Redis Cluster slot. */
export function sessionKey (prefix: string, sessionId: string): string {
  return `${prefix}{${sessionId}}`
}

/** The sorted set listing a user's sessions. */
export function userIndexKey (prefix: string, user: string): string {
  return `${prefix}u:{${user}}`
}

/** A login's request id (nginx's), naming the session it created while nginx may still re-send it. */
export function loginRequestKey (prefix: string, requestId: string): string {
  return `${prefix}r:{${requestId}}`
}

/**
 * A session ended shortly after its login: kept while nginx might still re-send that login, so that the retry does
 * not bring the session back. Same hash slot as the session, so one script checks both.
 */
export function endedKey (prefix: string, sessionId: string): string {
  return `${prefix}e:{${sessionId}}`
}

/** KEYS/SCAN patterns: every session, every user index. */
export function keyPatterns (prefix: string): { sessions: string, indexes: string, all: string } {
  return { sessions: `${prefix}{*`, indexes: `${prefix}u:*`, all: `${prefix}*` }
}

/** A handle is 16 base64url characters. */
export const HANDLE_PATTERN = '^[A-Za-z0-9_-]{16}$'

/** A public name for a session (a hash of its id): the id itself is a credential and never leaves the server. */
export function sessionHandle (sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url').slice(0, 16)
}
