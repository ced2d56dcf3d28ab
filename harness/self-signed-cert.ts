// A self-signed certificate for localhost and 127.0.0.1, so that `npm start` and the tests can serve HTTPS with no
// certificate of their own. Made with the openssl CLI (Debian's `openssl`), kept in a directory and reused while it
// is valid: a browser told to accept it once keeps accepting it across runs.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findBinary } from './binaries.ts'

export interface TlsFiles {
  /** PEM certificate (chain, leaf first). For the self-signed pair, also what a client trusts. */
  cert: string
  /** PEM private key. */
  key: string
}

/** Days a fresh self-signed certificate is valid: short, it is for local use only. */
export const SELF_SIGNED_DAYS = 30
/** A pair closer than this to its end is made anew rather than served until it breaks mid-run. */
const RENEW_BEFORE_SECONDS = 24 * 3600

/** Runs openssl in `dir`; throws with openssl's own words when it fails. */
export function openssl (dir: string, ...args: string[]): void {
  const run = spawnSync(findBinary('openssl'), args, { cwd: dir, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${run.stderr || run.error}`)
}

/** Whether the certificate is still valid in a day (openssl exits 1 when it is not, or cannot read it). */
function validForADay (cert: string): boolean {
  const run = spawnSync(findBinary('openssl'), ['x509', '-checkend', String(RENEW_BEFORE_SECONDS), '-noout', '-in', cert], { encoding: 'utf8' })
  return run.status === 0
}

/**
 * cert.pem and key.pem in `dir` (which must exist): the pair already there when it is still valid for a day,
 * otherwise a new one (EC P-256, DNS:localhost and IP:127.0.0.1, SELF_SIGNED_DAYS days). The key is mode 0600.
 */
export function selfSignedPair (dir: string): TlsFiles {
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }
  if (existsSync(files.key) && existsSync(files.cert) && validForADay(files.cert)) {
    chmodSync(files.key, 0o600)
    return files
  }
  rmSync(files.key, { force: true })
  // openssl keeps an existing file's mode: the key is never readable by others, not even for a moment.
  writeFileSync(files.key, '', { mode: 0o600, flag: 'wx' })
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', files.key, '-out', files.cert, '-days', String(SELF_SIGNED_DAYS), '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1')
  return files
}
