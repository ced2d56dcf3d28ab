// SESSION_KEY_PREFIX may not hold a brace: Redis Cluster hashes the first {…} of a key, and the store puts each
// session id there, so that a session and its ended marker share a slot (one script touches both).
import { Command, Redis } from 'ioredis'
import t from 'tap'
import { ConfigError, loadConfig } from '../../services/config.ts'
import { checkedKeyPrefix, endedKey, sessionKey } from '../../services/session-store/keys.ts'
import { RedisSessionStore } from '../../services/session-store/store.ts'

const slot = (key: string) => new Command('get', [key]).getSlot()
const ID = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'

t.test('why: a brace in the prefix would split a session from its ended marker, or put every session in one slot', async t => {
  t.equal(slot(endedKey('sess:', ID)), slot(sessionKey('sess:', ID)), 'with a plain prefix, one slot')
  t.not(slot(endedKey('app{1:', ID)), slot(sessionKey('app{1:', ID)), 'an unclosed { in the prefix: two slots (CROSSSLOT)')
  t.equal(slot(sessionKey('app{1}:', ID)), slot(sessionKey('app{1}:', 'b'.repeat(32))), 'a {…} in the prefix: every session in one slot')
})

t.test('refused with a clear message, wherever the prefix comes from', async t => {
  for (const prefix of ['sess:', 'app:v2:', 'a-b_c.d:', '']) t.equal(checkedKeyPrefix(prefix), prefix, `"${prefix}" is fine`)
  for (const prefix of ['app{1}:', 'app{', 'app}:']) {
    t.throws(() => checkedKeyPrefix(prefix), { message: new RegExp(`^SESSION_KEY_PREFIX=${prefix.replace(/[{}]/g, '\\$&')} may not contain "\\{" or "\\}"`) })
  }
  // A ConfigError: a replica prints it as one line and exits 1 (config.test.ts), before any connection to Redis.
  t.throws(() => loadConfig({ SESSION_KEY_PREFIX: 'app{1}:' }), ConfigError, 'a configuration error')
  const lazy = new Redis({ lazyConnect: true })
  t.throws(() => new RedisSessionStore(lazy, { prefix: 'app{', idleTtlMs: 1000, maxAgeMs: 1000 }), /may not contain/, 'the store itself refuses it too')
})
