// The session cookie's signer: the same HMAC-SHA256 signatures as @fastify/cookie's, each cookie verified once,
// nothing invalid remembered, and the memory bounded.
import { Signer } from '@fastify/cookie'
import t from 'tap'
import { CachingCookieSigner } from '../../services/session-store/cookie-signer.ts'

const CURRENT = 'current-secret-current-secret-current-secret'
const OLD = 'older-secret-older-secret-older-secret-older'
const ID = 'abcdefghijklmnopqrstuvwxyzABCDEF'

t.test('signs and verifies exactly as @fastify/cookie\'s Signer (HMAC-SHA256, secrets in order)', async t => {
  const plain = new Signer([CURRENT, OLD], 'sha256')
  const signer = new CachingCookieSigner([CURRENT, OLD])
  const cookie = signer.sign(ID)
  t.equal(cookie, plain.sign(ID))
  t.same(signer.unsign(cookie), { valid: true, renew: false, value: ID })
  t.same(signer.unsign(cookie), { valid: true, renew: false, value: ID }, 'again, from memory')
  const old = new Signer(OLD, 'sha256').sign(ID)
  t.same(signer.unsign(old), { valid: true, renew: true, value: ID }, 'an older secret verifies and asks for renewal')
  t.equal(signer.sign(ID), cookie, 'signing still uses the current secret after an old cookie was verified')
})

t.test('a forged or tampered cookie is refused, every time', async t => {
  const signer = new CachingCookieSigner([CURRENT])
  const cookie = signer.sign(ID)
  const tampered = `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`
  for (const bad of [tampered, `${ID}.`, ID, `other${cookie}`, new Signer('attacker-secret-attacker-secret-attacker', 'sha256').sign(ID)]) {
    t.equal(signer.unsign(bad).valid, false, bad)
    t.equal(signer.unsign(bad).valid, false, `${bad}, twice`)
  }
})

t.test('an id signed once is signed from memory: the cookie a visit verified is what signing its id gives', async t => {
  const plain = new Signer([CURRENT], 'sha256')
  const signer = new CachingCookieSigner([CURRENT])
  const cookie = plain.sign(ID)
  signer.unsign(cookie)
  t.equal(signer.sign(ID), cookie)
})

t.test('memory is bounded: the oldest entries are forgotten, and still verify when seen again', async t => {
  const signer = new CachingCookieSigner([CURRENT], 3)
  const plain = new Signer([CURRENT], 'sha256')
  const ids = ['a', 'b', 'c', 'd', 'e'].map(c => c.repeat(32))
  for (const id of ids) t.equal(signer.unsign(plain.sign(id)).value, id)
  t.equal(signer.unsign(plain.sign(ids[0]!)).value, ids[0], 'a forgotten cookie is verified again')
  t.equal(signer.sign(ids[1]!), plain.sign(ids[1]!))
})
