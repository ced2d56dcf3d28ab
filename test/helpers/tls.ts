// A throwaway certificate authority and a server certificate for localhost / 127.0.0.1, made with openssl, more
// certificates from that CA for other names, and a client that trusts a given CA.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici'
import { openssl, type TlsFiles } from '../../harness/self-signed-cert.ts'

export interface Certificates {
  ca: string
  cert: string
  key: string
  /** Another CA, which did not sign the server certificate. */
  otherCa: string
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export function makeCertificates (dir: string): Certificates {
  openssl(dir, 'req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test CA')
  openssl(dir, 'req', '-x509', ...KEY, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '1', '-subj', '/CN=another CA')
  openssl(dir, 'req', ...KEY, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext')
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), otherCa: join(dir, 'other-ca.crt') }
}

/** A certificate whose one name is `name` (a DNS name), signed by the CA that makeCertificates made in `dir`. */
export function certificateFor (dir: string, name: string): TlsFiles {
  openssl(dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\n`)
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`)
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
}

/**
 * A fetch whose connections trust `ca` (for this fetch only: nothing global changes) and, when given, leave from
 * `localAddress`: loopback takes any 127/8 source on Linux, so each address is another client to nginx.
 */
export function fetchVia (t: Test, connect: { ca?: string, localAddress?: string }): typeof fetch {
  const agent = new Agent({ localAddress: connect.localAddress, connect: { ca: connect.ca && readFileSync(connect.ca) } })
  t.teardown(async () => await agent.close())
  // undici's own fetch with undici's own Agent: the global fetch's bundled undici may be another version.
  return (async (input: string, init?: RequestInit) => await undiciFetch(input, { ...init, dispatcher: agent } as UndiciRequestInit)) as unknown as typeof fetch
}
