// The session cookie's signature: HMAC-SHA256 (@fastify/cookie's Signer, the secrets in order), with the results
// remembered. A visit costs @fastify/session two HMACs otherwise: it verifies the cookie, then signs the same id
// again to compare it with the cookie. Here each is computed once per cookie: a cookie already verified is
// recognised by its exact text (a Map lookup, which compares whole strings: it tells an attacker nothing about a
// signature's prefix), and signing an id that a verified cookie carried returns that cookie. Only valid results are
// kept, in a bounded map that forgets the oldest first, so no input can make it grow without bound.
import { Signer, type UnsignResult } from '@fastify/cookie'

/** Cookies (and ids) remembered: a few MB at most; a busy replica's recent visitors. */
const DEFAULT_CAPACITY = 20_000

export class CachingCookieSigner {
  readonly #signer: Signer
  readonly #capacity: number
  /** Signed cookie text → its verification (valid ones only). */
  readonly #verified = new Map<string, UnsignResult>()
  /** Session id → its cookie signed with the current secret. */
  readonly #signed = new Map<string, string>()

  /** `secrets`: the first signs, every one verifies (rotation). */
  constructor (secrets: string[], capacity = DEFAULT_CAPACITY) {
    this.#signer = new Signer(secrets, 'sha256')
    this.#capacity = capacity
  }

  sign (value: string): string {
    let signed = this.#signed.get(value)
    if (signed === undefined) {
      signed = this.#signer.sign(value)
      remember(this.#signed, value, signed, this.#capacity)
    }
    return signed
  }

  unsign (input: string): UnsignResult {
    const known = this.#verified.get(input)
    if (known !== undefined) return known
    const result = this.#signer.unsign(input)
    if (result.valid) {
      remember(this.#verified, input, Object.freeze(result), this.#capacity)
      // Signed with the current secret: that is what sign() would give for this id.
      if (!result.renew) remember(this.#signed, result.value, input, this.#capacity)
    }
    return result
  }
}

function remember<V> (map: Map<string, V>, key: string, value: V, capacity: number): void {
  if (map.size >= capacity) map.delete(map.keys().next().value!)
  map.set(key, value)
}
